#!/usr/bin/env bash
# The byte mLSTM against the Transformer over a sentencepiece vocabulary, at equal wall time on one CPU core
# (issue 20's comparison; the README's "Which language model?"). Each step is one command, in order;
# run it from the repository root. Heavy steps run on core $CORE with one thread.
#
#   scripts/compare_lms.sh corpora      # the byte corpus and the token corpus (same documents, same split)
#   scripts/compare_lms.sh sizes        # 8-minute runs of three Transformer sizes (which to train)
#   scripts/compare_lms.sh mlstm        # pretrain the byte mLSTM for $MINUTES minutes
#   scripts/compare_lms.sh transformer  # pretrain the Transformer for $MINUTES minutes
#   scripts/compare_lms.sh evaluate M   # transfer (probe, unit, direction), fine-tuning and TF-IDF for run M
#   scripts/compare_lms.sh table        # held-out bits per byte, throughput and the table (JSON + Markdown)
set -euo pipefail
export SENTIMENT_NEURON_DATA=${SENTIMENT_NEURON_DATA:-../shared/data} OMP_NUM_THREADS=1
RUNS=${RUNS:-runs/cmp}
MINUTES=${MINUTES:-60}
CORE=${CORE:-0}
SN="taskset -c $CORE .venv/bin/sentiment-neuron"
SOURCES="--dataset imdb:unsup imdb:train --input $SENTIMENT_NEURON_DATA/reviews_extra/*.jsonl.xz"

case "$1" in
  corpora)
    $SN prepare-corpus $SOURCES --validation-fraction 0.005 --out $RUNS/corpus
    $SN train-tokenizer $SOURCES --vocab-size 8000 --max-texts 100000 --out $RUNS/tokenizer
    $SN prepare-corpus $SOURCES --validation-fraction 0.005 --tokenizer $RUNS/tokenizer --out $RUNS/corpus-sp8k ;;
  sizes)  # the Transformer's size for the budget: 8 minutes each, held-out bits per byte in metrics.jsonl
    for spec in "4 256 4" "2 256 4" "4 384 6"; do
      set -- $spec
      $SN pretrain --corpus $RUNS/corpus-sp8k --rnn transformer --num-layers $1 --hidden-size $2 --num-heads $3 \
        --batch-size 64 --seq-len 128 --lr 0.001 --warmup-steps 30 --max-minutes 8 --eval-every 1000000 \
        --out $RUNS/size-$1x$2 --overwrite --quiet
    done ;;
  mlstm)  # the shipped model's recipe (README, "The shipped model"), for $MINUTES minutes
    $SN pretrain --corpus $RUNS/corpus --hidden-size 512 --batch-size 256 --seq-len 128 --lr 0.002 \
      --warmup-steps 100 --max-minutes $MINUTES --checkpoint-minutes 10 --out $RUNS/mlstm ;;
  transformer)  # 2 x 256, 4 heads, 512 cached tokens: the size 8-minute runs chose among 4x256, 2x256, 4x384 (README)
    $SN pretrain --corpus $RUNS/corpus-sp8k --rnn transformer --num-layers ${LAYERS:-2} --hidden-size ${WIDTH:-256} \
      --num-heads ${HEADS:-4} --batch-size 64 --seq-len 128 --lr 0.001 --warmup-steps 30 --max-minutes $MINUTES \
      --checkpoint-minutes 10 --out $RUNS/transformer ;;
  evaluate)
    M=$2
    IMDB="--max-train 1000 --max-test 1000 --validation-size 250"  # the demo's split
    $SN transfer --model $M --dataset sst2 --compare "" --out $M/eval/sst2 --quiet
    $SN transfer --model $M --dataset imdb $IMDB --compare "" --out $M/eval/imdb --quiet
    # SemEval E-c is multilabel: no single unit or direction; its L1 probe comes from the table
    $SN finetune --model $M --table --rows tfidf,l1_probe,finetune_ulmfit --tasks sst2,imdb,semeval2018_ec \
      --imdb-train 1000 --imdb-test 1000 --imdb-validation 250 --imdb-chars 0 --max-minutes ${FT_MINUTES:-4} \
      --out $M/eval/finetune --quiet ;;
  table)
    taskset -c $CORE .venv/bin/python scripts/compare_lms.py --run mlstm=$RUNS/mlstm:$RUNS/corpus \
      --run transformer=$RUNS/transformer:$RUNS/corpus-sp8k --out docs/results/lm_comparison ;;
  *) echo "usage: $0 corpora|sizes|mlstm|transformer|evaluate RUN|table" >&2; exit 2 ;;
esac
