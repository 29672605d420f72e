#!/usr/bin/env bash
# Every "look inside" tool on one model, as in issue 4's closing note:
#   bash examples/look_inside.sh runs/lm runs/look
# About 6 minutes for a 512-unit model on 2 CPU cores (run it alone: threads of
# two torch jobs fighting for 2 cores slow both 10-100x).
set -euo pipefail
MODEL=${1:?usage: look_inside.sh MODEL_DIR OUT_DIR}
OUT=${2:?usage: look_inside.sh MODEL_DIR OUT_DIR}
SN=${SN:-sentiment-neuron}
step() { local start=$SECONDS; "$@"; echo "[$((SECONDS - start)) s] $*"; }
step $SN transfer --model "$MODEL" --dataset sst2 --out "$OUT/sst2" --quiet
step $SN data-efficiency --model "$MODEL" --dataset sst2 --draws 5 --out "$OUT/efficiency" --quiet
for strength in 1 2; do
  step $SN generate --model "$MODEL" --transfer "$OUT/sst2" --experiment --n 100 --length 200 \
    --strength $strength --out "$OUT/steer-x$strength" --quiet
done
step $SN cross-domain --model "$MODEL" --datasets sst2,imdb --max-train 2000 --max-test 2000 \
  --validation-size 500 --out "$OUT/cross" --quiet
step $SN word-vectors --model "$MODEL" --transfer "$OUT/sst2" --dataset sst2 --query good \
  --context "not good at all" --out "$OUT/words" --quiet
