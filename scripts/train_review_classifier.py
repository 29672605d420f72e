"""Fine-tune the review-sentiment classifier that ships with a model (README, "The shipped classifier").

    python scripts/train_review_classifier.py --model mlstm-reviews-512 --out runs/review-classifier

One binary classifier for review sentiment, fine-tuned end to end (ULMFiT's
schedule: gradual unfreezing, discriminative learning rates, slanted triangular
LR, early stopping) on SST-2's training sentences and 2,000 IMDB training
reviews together, so that it reads both short sentences and long reviews:

* train: SST-2 train (6,920) + IMDB train (--imdb-train reviews drawn by the seed,
  default 2,000, each cut to its last 600 characters, as in the fine-tuning table);
* validation: SST-2 validation (872) + 300 IMDB reviews held out of IMDB train;
* test, reported apart: SST-2 test (1,821), and IMDB test (the fine-tuning
  table's 2,000 reviews drawn by the seed, whatever --imdb-train is) both cut to
  600 characters and whole (the classifier reads long texts with its state carried).

Labels are aligned by name ("0"/"1" in SST-2, "neg"/"pos" in IMDB become
negative/positive). Writes OUT/finetuned (the classifier folder) and
OUT/record.json (the scores and the budget), both atomically. IMDB's test
reviews are only scored, never trained on.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sentiment_neuron.data.records import Records
from sentiment_neuron.data.tasks import Task, load_task
from sentiment_neuron.models import load_model
from sentiment_neuron.recipes.finetune import TableConfig, table_task
from sentiment_neuron.recipes.results import machine
from sentiment_neuron.report.markdown import write_json
from sentiment_neuron.training.finetune import FinetuneConfig, evaluate, finetune, new_classifier
from sentiment_neuron.classifier import SentimentClassifier, model_reference, save_classifier

LABELS = ["negative", "positive"]


def as_review_labels(records: Records) -> Records:
    """records with labels 0 = negative, 1 = positive, whatever the dataset called them."""
    names = [n.lower() for n in records.label_names]
    positive = {"1", "pos", "positive"}
    if len(names) != 2 or not positive & set(names):
        raise ValueError(f"{records.source}: expected two classes, one of them positive; got {records.label_names}")
    is_positive = np.array([names[i] in positive for i in records.labels])
    return replace(records, labels=is_positive.astype(np.int64), label_names=list(LABELS))


def concat(a: Records, b: Records, source: str) -> Records:
    return Records(a.texts + b.texts, np.concatenate([a.labels, b.labels]), list(LABELS), source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mlstm-reviews-512", help="model folder or shipped name")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--data-dir", help="named datasets (default: $SENTIMENT_NEURON_DATA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--imdb-train", type=int, default=2000, help="IMDB training reviews (default: 2000)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()

    out = Path(args.out)
    table = TableConfig()
    sst = load_task("sst2", args.data_dir, seed=args.seed)
    imdb = table_task("imdb", table, args.data_dir, args.seed)  # its test split is the table's, for every size
    imdb_train = table_task("imdb", replace(table, imdb_train=args.imdb_train), args.data_dir, args.seed).train
    whole_imdb = load_task("imdb", args.data_dir, table.imdb_train, table.imdb_test, table.imdb_validation, args.seed)
    sst = Task("sst2", *map(as_review_labels, (sst.train, sst.validation, sst.test)))
    imdb = Task("imdb", *map(as_review_labels, (imdb_train, imdb.validation, imdb.test)))
    train = concat(sst.train, imdb.train, f"sst2:train + imdb:train[{args.imdb_train}, last 600 chars]")
    validation = concat(sst.validation, imdb.validation, "sst2:validation + imdb:train held out[300]")

    config = FinetuneConfig(epochs=args.epochs, max_minutes=args.max_minutes, batch_size=64, evals_per_phase=2,
                            seed=args.seed)
    t0 = time.time()
    result = finetune(new_classifier(load_model(args.model), train, bptt_window=256), train, validation, config,
                      args.quiet)
    clf = result.classifier
    test = {"sst2": evaluate(clf, sst.test, config.eval_batch_size, result.precision),
            "imdb_600_chars": evaluate(clf, imdb.test, config.eval_batch_size, result.precision),
            "imdb_whole": evaluate(clf, as_review_labels(whole_imdb.test), config.eval_batch_size, result.precision)}
    record = {"model": str(args.model), "labels": LABELS, "seed": args.seed,
              "train": {"source": train.source, "n": len(train)},
              "validation": {"source": validation.source, "n": len(validation)},
              "test": test, "test_n": {"sst2": len(sst.test), "imdb": len(imdb.test)},
              "schedule": "ulmfit (gradual unfreezing, discriminative LRs, STLR), early stopping on validation",
              "config": {k: getattr(config, k) for k in ("epochs", "max_minutes", "batch_size", "lr", "lr_decay")},
              "bptt_window": 256, **result.summary(), "wall_seconds": round(time.time() - t0, 1),
              "machine": machine("auto", result.device)}
    clf.training_info = record
    save_classifier(SentimentClassifier("finetuned", finetuned=clf, model=model_reference(args.model),
                                        training=record), out / "finetuned")
    write_json(record, out / "record.json")
    print(json.dumps(test, indent=2))


if __name__ == "__main__":
    main()
