#!/usr/bin/env bash
# Kill a `flexbench run` partway (SIGKILL, as a preempted job dies), rerun the same command, and show
# what the resume saved; optionally compare it byte for byte with an uninterrupted run.
#
#   bash bench/resume_demo.sh                                   # ml-100k, SASRec, quick profile, with the comparison
#   DATASET=amazon-beauty MODEL=sasrec PROFILE=cpu KILL_AT=6 COMPARE=0 \
#       PREPARE_ARGS="--source s3rec --raw-dir ../shared/data/amazon-beauty --encoder none" bash bench/resume_demo.sh
#
# Environment: DATASET (ml-100k), MODEL (sasrec), PROFILE (quick), CONFIG (a grid YAML, optional),
# KILL_AT (kill once this epoch is checkpointed; 3), COMPARE (1: also run uninterrupted and cmp the
# per-user parquet), DATA_DIR (./data; the dataset is prepared there when missing, with PREPARE_ARGS,
# default "--encoder none": SASRec needs no text embeddings), WORK (a fresh temp dir).
# Everything runs on one thread: that is the setting in which a resumed run is bit-for-bit identical.
set -euo pipefail

DATASET=${DATASET:-ml-100k}
MODEL=${MODEL:-sasrec}
PROFILE=${PROFILE:-quick}
KILL_AT=${KILL_AT:-3}
COMPARE=${COMPARE:-1}
DATA_DIR=${DATA_DIR:-data}
WORK=${WORK:-$(mktemp -d -t flexbench-resume.XXXXXX)}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

if [ ! -f "$DATA_DIR/$DATASET/manifest.json" ]; then
    # shellcheck disable=SC2086 (PREPARE_ARGS is a list of options)
    flexbench prepare "$DATASET" --data-dir "$DATA_DIR" ${PREPARE_ARGS:---encoder none}
fi
args=(run -d "$DATASET" -m "$MODEL" --profile "$PROFILE" --data-dir "$DATA_DIR")
if [ -n "${CONFIG:-}" ]; then args+=(--config "$CONFIG"); fi
run_path="$WORK/killed/$DATASET/$MODEL/seed-0"
mkdir -p "$WORK"
echo "work folder: $WORK"

# 1. the run that gets killed once epoch $KILL_AT is checkpointed
start=$(date +%s.%N)
flexbench "${args[@]}" --results-dir "$WORK/killed" >"$WORK/killed.log" 2>&1 &
pid=$!
until python - "$run_path.partial/checkpoint.json" "$KILL_AT" <<'EOF'
import json, sys
try:
    sys.exit(0 if json.load(open(sys.argv[1]))["epoch"] >= int(sys.argv[2]) else 1)
except (OSError, ValueError):
    sys.exit(1)
EOF
do
    kill -0 "$pid" 2>/dev/null || { echo "the run ended before epoch $KILL_AT was checkpointed"; exit 1; }
    sleep 0.2
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
killed_after=$(python -c "print(f'{$(date +%s.%N) - $start:.1f}')")
echo "killed after ${killed_after} s; checkpoint holds epoch $(python -c "import json; print(json.load(open('$run_path.partial/checkpoint.json'))['epoch'])")"

# 2. the same command again: it resumes
start=$(date +%s.%N)
flexbench "${args[@]}" --results-dir "$WORK/killed" >"$WORK/resumed.log" 2>&1
resumed_wall=$(python -c "print(f'{$(date +%s.%N) - $start:.1f}')")
echo "rerun took ${resumed_wall} s"
python - "$run_path/manifest.json" <<'EOF'
import json, sys
manifest = json.load(open(sys.argv[1]))
resume, curve = manifest["resume"], manifest["diagnostics"]["training_curve"]
killed, resumed = resume["attempts"][0], resume["attempts"][-1]
saved = resume["resumed_from_epoch"]
# epochs the killed attempt had started but not checkpointed: its last reported epoch + the one in progress
redone = killed["last_epoch"] + 1 - saved
saved_s = sum(e["seconds"] for e in curve if e["epoch"] <= saved)
print(f"resumed from epoch {saved} of {len(curve)}; epochs redone: {redone} (the one in progress when killed)")
print(f"attempts: " + ", ".join(f"{a['ended']} after {a['seconds']:.1f} s (epochs {a['from_epoch'] + 1}-{a['last_epoch']})" for a in resume["attempts"]))
print(f"training time not repeated thanks to the checkpoint: {saved_s:.1f} s (epochs 1-{saved})")
EOF

# 3. optionally, the same run uninterrupted, compared byte for byte
if [ "$COMPARE" = 1 ]; then
    flexbench "${args[@]}" --results-dir "$WORK/uninterrupted" >"$WORK/uninterrupted.log" 2>&1
    if cmp "$run_path/per_user.parquet" "$WORK/uninterrupted/$DATASET/$MODEL/seed-0/per_user.parquet"; then
        echo "per_user.parquet of the killed-and-resumed run is byte-identical to the uninterrupted run's"
    else
        echo "per_user.parquet differs from the uninterrupted run's"; exit 1
    fi
fi
