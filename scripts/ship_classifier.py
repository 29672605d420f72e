"""Ship a classifier with a shipped model: NAME/classifier/ in the package (`classifier.folder`).

    python scripts/ship_classifier.py --name mlstm-reviews-512 \
        --finetuned runs/review-classifier-6k/finetuned --hardware "2-core AMD EPYC (AVX2), 1 thread"

The folder gets two parts, so that `classify`, `serve` and
`SentimentNeuron.from_pretrained(NAME)` work with no other step:

* the fine-tuned head (`scripts/train_review_classifier.py`), stored in fp16,
  the default head;
* a transfer result on SST-2 (the L1 probe, the sentiment unit and direction), so
  heatmaps and steering have a unit and a direction (`--head probe|unit|direction`).
  Its report keeps the numbers but not the texts at the unit's extremes (those
  are SST-2's sentences: data stays out of the repository).

Then every head is scored on SST-2 test and the fine-tuning table's 2,000 IMDB
test reviews (whole, and cut to their last 600 characters), as the shipped
(fp16) files load, and the scores go into the classifier's config.json
("training"), OUT/scores.json and the printout; it prints the SHA-256 lines for
`models/pretrained.py`. MODEL_CARD.md is written by hand from them.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sentiment_neuron.classifier import SentimentClassifier, load_classifier, model_reference, save_classifier
from sentiment_neuron.data.tasks import load_task
from sentiment_neuron.models import load_model
from sentiment_neuron.models.pretrained import PRETRAINED_ROOT, sha256_file
from sentiment_neuron.recipes.finetune import TableConfig, table_task
from sentiment_neuron.recipes.transfer import run_transfer
from sentiment_neuron.transfer.features import featurize, parse_spec
from sentiment_neuron.transfer.metrics import single_label_metrics
from sentiment_neuron.transfer.result import TransferResult

DROPPED = ("extremes", "extremes_heatmap", "histogram", "direction_histogram")  # texts from the data, local files


def scores(classifier: SentimentClassifier, model, texts: dict, batch_size: int = 64) -> dict:
    """Accuracy and macro-F1 of every head on each test set: {head: {set: {...}}} (the LM's features
    computed once per set for the heads that read them)."""
    out = {head: {} for head in classifier.heads}
    for name, records in texts.items():
        state, pooling = parse_spec(classifier.features)
        X = featurize(model, records.texts, state, pooling, batch_size=batch_size, precision="fp32")
        for head in classifier.heads:
            clf = classifier.with_head(head)
            proba = clf.proba_from_features(X) if clf.reads_features else \
                clf.predict_proba(model, records.texts, batch_size, "fp32")
            out[head][name] = single_label_metrics(records.labels, clf.decide(proba))
            print(f"{head:10s} {name:20s} {100 * out[head][name]['accuracy']:.1f}%", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="mlstm-reviews-512", help="the shipped model")
    parser.add_argument("--finetuned", required=True, help="the fine-tuned classifier folder to ship")
    parser.add_argument("--hardware", required=True, help="where the fine-tuning ran, in words")
    parser.add_argument("--data-dir", help="named datasets (default: $SENTIMENT_NEURON_DATA)")
    parser.add_argument("--out", default="runs/ship-classifier", help="scores.json and the transfer run")
    args = parser.parse_args()

    start, out = time.time(), Path(args.out)
    model = load_model(args.name)
    sst = load_task("sst2", args.data_dir, seed=0)
    transfer = run_transfer(model, sst, out / "sst2-transfer", compare=(), model_name=args.name, seed=0,
                            precision="fp32")
    report = {k: v for k, v in transfer.report.items() if k not in DROPPED}
    transfer = TransferResult(report, transfer.probe, None, transfer.directions)
    finetuned = load_classifier(args.finetuned, "finetuned").finetuned
    training = {"finetuned": finetuned.training_info, "hardware": args.hardware,
                "transfer": {"task": "sst2", "features": transfer.features, "C": report["C"],
                             "test_accuracy": report["test_accuracy"]}}
    shipped = SentimentClassifier("finetuned", transfer, finetuned, model=model_reference(args.name),
                                  training=training)
    folder = PRETRAINED_ROOT / args.name / "classifier"
    with tempfile.TemporaryDirectory() as tmp:  # score the files as they ship (fp16), then write the final ones
        loaded = load_classifier(save_classifier(shipped, Path(tmp) / "c", dtype="fp16"))
        imdb = table_task("imdb", TableConfig(), args.data_dir, 0)
        whole = load_task("imdb", args.data_dir, 2000, 2000, 300, 0).test
        test = scores(loaded, model, {"sst2_test": sst.test, "imdb_test_600_chars": imdb.test,
                                      "imdb_test_whole": whole})
    shipped.training["test"] = test
    save_classifier(shipped, folder, dtype="fp16")
    (out / "scores.json").write_text(json.dumps({"test": test, "training": training}, indent=2, default=str))
    files = {f"classifier/{p.name}": sha256_file(p) for p in sorted(folder.iterdir())}
    print(json.dumps(files, indent=12))
    print(f"size: {sum(p.stat().st_size for p in folder.iterdir()) / 2**20:.2f} MiB; "
          f"{(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
