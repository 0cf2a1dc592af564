#!/usr/bin/env bash
# GPU check: one prepared script for a machine with one NVIDIA GPU, needing only this checkout and pip.
#
#   bash bench/gpu_check.sh            # from the repository root or anywhere
#
# 1. makes (or reuses) .venv-gpu with `pip install -e ".[test]"`: torch comes from the package index,
#    i.e. its CUDA build (a large download the first time; not counted in the < 5 min budget below);
# 2. runs the CUDA tests (`pytest -k cuda`: every model trains, decodes and is evaluated on CUDA under
#    --device auto through the real runner);
# 3. prepares amazon-beauty from the S3-Rec files in $BEAUTY_RAW (default ../shared/data/amazon-beauty,
#    else data/raw/amazon-beauty/s3rec inside the checkout: Beauty.txt, optional items.tsv);
# 4. trains one epoch of the `paper` profile for TIGER and FlexCode on it (CF SASRec 2 epochs, validation
#    on 2,000 users) and decodes all 22,363 test users, timed;
# 5. runs the beam-search bench on CUDA (bench/beam_search.py --quick);
# 6. prints a short table (also written to .gpu-check/summary.json).
#
# Without a GPU (no nvidia-smi, no device, or a torch that cannot see it) it says so and exits 0,
# before installing anything where it can tell. Outputs live under .gpu-check/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-check
venv=${GPU_CHECK_VENV:-.venv-gpu}
python=${PYTHON:-python3}

skip() { echo "gpu_check: $1 — GPU check skipped" >&2; exit 0; }

if ! command -v nvidia-smi >/dev/null 2>&1; then skip "no nvidia-smi on this machine"; fi
if ! nvidia-smi -L 2>/dev/null | grep -q "^GPU "; then skip "nvidia-smi lists no GPU"; fi
nvidia-smi -L >&2

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q -e ".[test]"
"$venv/bin/python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)" \
  || skip "torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') cannot see the GPU"
export PATH="$PWD/$venv/bin:$PATH" PYTHONPATH="$PWD"
mkdir -p "$out"
start=$SECONDS

# ---- 2. CUDA tests -------------------------------------------------------------------------------
t0=$SECONDS
python -m pytest -q -p no:cacheprovider -k cuda tests
cuda_tests_s=$((SECONDS - t0))

# ---- 3. amazon-beauty ----------------------------------------------------------------------------
raw=${BEAUTY_RAW:-}
for candidate in ../shared/data/amazon-beauty data/raw/amazon-beauty/s3rec; do
  if [ -z "$raw" ] && [ -f "$candidate/Beauty.txt" ]; then raw=$candidate; fi
done
beauty=skipped
if [ -n "$raw" ] && [ -f "$raw/Beauty.txt" ]; then
  t0=$SECONDS
  flexbench prepare amazon-beauty --source s3rec --raw-dir "$raw" --data-dir "$out/data" --device cuda
  prepare_s=$((SECONDS - t0))

  # ---- 4. one epoch of the paper profile, TIGER and FlexCode -----------------------------------------
  cat >"$out/one-epoch.yaml" <<'EOF'
profile: paper
model_overrides:
  tiger: {max_epochs: 1, valid_users: 2000}
  flexcode: {max_epochs: 1, valid_users: 2000, cf_epochs: 2}
EOF
  flexbench run -d amazon-beauty -m tiger -m flexcode --config "$out/one-epoch.yaml" --device cuda \
    --data-dir "$out/data" --results-dir "$out/results" --force
  beauty=done
else
  echo "gpu_check: no Beauty.txt in \$BEAUTY_RAW, ../shared/data/amazon-beauty or data/raw/amazon-beauty/s3rec — Beauty runs skipped" >&2
  prepare_s=0
fi

# ---- 5. beam-search bench ------------------------------------------------------------------------
python bench/beam_search.py --device cuda --quick --out "$out/beam_search.json"

# ---- 6. the table --------------------------------------------------------------------------------
python - "$out" "$cuda_tests_s" "$prepare_s" "$beauty" "$((SECONDS - start))" <<'EOF'
import json, sys
from pathlib import Path

out, cuda_tests_s, prepare_s, beauty, total_s = Path(sys.argv[1]), *map(int, sys.argv[2:4]), sys.argv[4], int(sys.argv[5])
rows = [("CUDA tests (pytest -k cuda)", f"{cuda_tests_s} s", "passed")]
if beauty == "done":
    rows.append(("prepare amazon-beauty (MiniLM on CUDA)", f"{prepare_s} s", ""))
    for model in ("tiger", "flexcode"):
        manifest = json.loads((out / "results" / "amazon-beauty" / model / "seed-0" / "manifest.json").read_text())
        metrics = json.loads((out / "results" / "amazon-beauty" / model / "seed-0" / "metrics.json").read_text())
        t = manifest["timings"]
        test = metrics["test"]["overall"]
        rows.append((f"{model}, paper profile, 1 epoch: train / test decode", f"{t['train']:.0f} s / {t['evaluate_test']:.0f} s",
                     f"test Recall@10 {test['recall@10']:.4f}, NDCG@10 {test['ndcg@10']:.4f} ({manifest['device']})"))
else:
    rows.append(("amazon-beauty runs", "skipped", "no Beauty.txt found"))
beam = json.loads((out / "beam_search.json").read_text())
for row in beam["rows"]:
    fast = row["fast"]
    rows.append((f"beam search, beam {row['beam']} ({beam['device']})", f"{fast['users_per_s']:.1f} users/s",
                 f"p50 {fast['batch_latency_p50_ms']:.0f} ms per batch, {row['speedup']:.0f}x the reference"))
rows.append(("total (after the install)", f"{total_s} s", "budget: < 300 s"))
width = max(len(r[0]) for r in rows)
print()
for name, value, note in rows:
    print(f"{name:<{width}}  {value:>14}  {note}")
(out / "summary.json").write_text(json.dumps(rows, indent=1))
EOF
