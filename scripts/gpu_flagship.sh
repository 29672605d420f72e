#!/usr/bin/env bash
# The flagship pretraining run in one GPU window (issue 14; docs/gpu.md, "The plan for a short window").
#
# Here, on CPU, once:      make gpu-pack        (= scripts/gpu_flagship.sh pack: runs/gpu/pack, <= 56 MiB)
# There, every command runs from the repository root with `carry: ["runs/gpu/pack"]`:
#   1. scripts/gpu_flagship.sh start    versions, unpack the corpus, CUDA tests, a short benchmark (JSON
#                                       to $OUT), then pretraining detached (setsid) with its log in $RUN
#   2. scripts/gpu_flagship.sh watch    status every minute for up to WATCH_SECONDS (default 540); restarts
#                                       the trainer from its newest checkpoint if it died early
#   3. scripts/gpu_flagship.sh fetch    export the current model as fp16 pieces of <= 15 MiB and copy the
#                                       next ones with manifest.json, config.json, metrics.jsonl into $OUT;
#                                       again until it says "0 left" and exits 0, not 3 (H=2048: one
#                                       command; H=4096: three); REEXPORT=1 exports the model anew
# Back here:  python scripts/gpu_flagship.py reassemble --from FOLDER [FOLDER ...] --out runs/flagship
#             (every piece's and the whole file's sha256 checked; the model loaded)
# Other commands: status, stop (SIGINT: the trainer checkpoints and exits), bench, test, unpack.
#
# Settings (environment; defaults for one H100/H200 and a 16-minute budget):
#   HIDDEN=2048 EMBED=64 BATCH=512 SEQ=256 LR=2e-3 WARMUP=300 MINUTES=16 MAX_STEPS= EVAL_EVERY=500
#   EVAL_STREAMS=128 CKPT_MINUTES=4 CKPT_EVERY= PRECISION=auto RECURRENCE=auto DEVICE=auto
#   PACK=runs/gpu/pack CORPUS=runs/gpu/corpus RUN=runs/gpu/flagship EXPORT=runs/gpu/export
#   PYTHON=python3 OUT=(the run tool's return folder; default runs/gpu/out) SKIP_CHECKS=1 (start: no tests/bench)
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
PYTHON="${PYTHON:-python3}"
PACK="${PACK:-runs/gpu/pack}" CORPUS="${CORPUS:-runs/gpu/corpus}" RUN="${RUN:-runs/gpu/flagship}"
EXPORT="${EXPORT:-runs/gpu/export}" OUT="${OUT:-runs/gpu/out}"
mkdir -p "$OUT"

train_args() {
  echo --corpus "$CORPUS" --out "$RUN" --hidden-size "${HIDDEN:-2048}" --embed-size "${EMBED:-64}" \
    --batch-size "${BATCH:-512}" --seq-len "${SEQ:-256}" --lr "${LR:-2e-3}" --warmup-steps "${WARMUP:-300}" \
    --max-minutes "${MINUTES:-16}" ${MAX_STEPS:+--max-steps "$MAX_STEPS"} --eval-every "${EVAL_EVERY:-500}" \
    --eval-streams "${EVAL_STREAMS:-128}" --checkpoint-minutes "${CKPT_MINUTES:-4}" \
    ${CKPT_EVERY:+--checkpoint-every "$CKPT_EVERY"} --precision "${PRECISION:-auto}" \
    --recurrence "${RECURRENCE:-auto}" --device "${DEVICE:-auto}"
}

running() { "$PYTHON" scripts/gpu_flagship.py status --run "$RUN" --last 0 >/dev/null 2>&1; }

launch() {  # the trainer in its own session: it outlives this command (the run tool ends the rest)
  mkdir -p "$RUN"
  # shellcheck disable=SC2046
  setsid nohup "$PYTHON" scripts/gpu_flagship.py train $(train_args) >>"$RUN/train.log" 2>&1 </dev/null &
  for _ in $(seq 50); do [ -s "$RUN/train.pid" ] && running && break; sleep 0.2; done
  echo "trainer started (pid $(cat "$RUN/train.pid" 2>/dev/null || echo '?'), log $RUN/train.log)"
}

case "${1:-help}" in
  pack)  # here: the corpus for the trip
    "$PYTHON" scripts/gpu_pack.py pack --out "$PACK" "${@:2}"
    du -sh "$PACK" ;;
  unpack)
    "$PYTHON" scripts/gpu_pack.py unpack --pack "$PACK" --out "$CORPUS" --quiet ;;
  test)
    "$PYTHON" -m pytest -q -p no:cacheprovider -m cuda tests/cuda 2>&1 | tee "$OUT/cuda_tests.txt" ;;
  bench)
    "$PYTHON" benchmarks/mlstm_throughput.py --device cuda --quick --max-seconds "${BENCH_SECONDS:-150}" \
      --out "$OUT/mlstm_throughput.json" "${@:2}" ;;
  start)
    "$PYTHON" -c 'import importlib.util, sys, torch
triton = importlib.util.find_spec("triton") and __import__("triton")
print(sys.version.split()[0], "torch", torch.__version__, "triton", triton.__version__ if triton else "not installed",
      torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA")'
    rm -f "$RUN/train.pid"
    "$PYTHON" scripts/gpu_pack.py unpack --pack "$PACK" --out "$CORPUS" --quiet
    if [ -z "${SKIP_CHECKS:-}" ]; then
      "$SELF" test || echo "CUDA tests failed: see $OUT/cuda_tests.txt (the trainer falls back where a check fails)"
      "$SELF" bench || echo "benchmark failed"
    fi
    launch ;;
  watch)
    deadline=$((SECONDS + ${WATCH_SECONDS:-540})) restarts=0
    while [ $SECONDS -lt $deadline ]; do
      if ! running; then
        if ! grep -q " done: " "$RUN/train.log" 2>/dev/null && [ $restarts -lt 2 ]; then
          restarts=$((restarts + 1))
          echo "the trainer is not running and did not finish: restarting from its newest checkpoint"
          tail -n 20 "$RUN/train.log" || true
          launch
        else
          break
        fi
      fi
      "$PYTHON" scripts/gpu_flagship.py status --run "$RUN" --last 1 || true
      sleep "${WATCH_EVERY:-60}"
    done
    "$PYTHON" scripts/gpu_flagship.py status --run "$RUN" --last 5 || true
    tail -n 3 "$RUN/train.log" || true ;;
  status)
    "$PYTHON" scripts/gpu_flagship.py status --run "$RUN" --last "${2:-5}" || true
    tail -n 5 "$RUN/train.log" 2>/dev/null || true ;;
  stop)
    kill -INT "$(cat "$RUN/train.pid")" && echo "SIGINT sent: the trainer checkpoints after its step and exits" ;;
  fetch)
    [ -f "$EXPORT/manifest.json" ] && [ -z "${REEXPORT:-}" ] || \
      "$PYTHON" scripts/gpu_flagship.py export --run "$RUN" --out "$EXPORT" ${PIECE_BYTES:+--piece-bytes "$PIECE_BYTES"}
    "$PYTHON" scripts/gpu_flagship.py fetch --export "$EXPORT" --to "$OUT" \
      ${FETCH_FILES:+--max-files "$FETCH_FILES"} ${FETCH_BYTES:+--max-bytes "$FETCH_BYTES"} ;;
  *)
    awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$SELF"; exit 2 ;;
esac
