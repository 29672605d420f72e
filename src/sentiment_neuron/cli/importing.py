"""Commands for published weights: import-openai, import-nvidia, download, and info on any model folder.

The importers live in `models.importers`; an NVIDIA file's linear classifier is
written here as a transfer result folder (`transfer.result`, the one writer of
that format), so `classify` and `heatmap` take it at once.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..models.importers import (
    DEFAULT_GATE_ORDER, GATE_ORDERS, PUBLISHED, describe_model, fetch_published, format_description,
    import_nvidia, import_openai, published,
)
from ..models.importers.nvidia import other_gate_order
from ..models.io import SAVE_DTYPES, save_model
from ..transfer.probe import L1Probe, SentimentUnit
from ..transfer.result import TransferResult, save_transfer

UNKNOWN = None  # what an imported classifier's report does not know (accuracies, C, text counts): JSON null
TRANSFER_SUBFOLDER = "transfer"


def add_import_openai(sub) -> None:
    p = sub.add_parser("import-openai", help="OpenAI's released mLSTM (model/0.npy..14.npy) -> a model folder",
                       description="Convert OpenAI's 15 .npy files (generating-reviews-discovering-sentiment, "
                       "4096 units) into a model folder that computes what their encoder.py computes. "
                       "config.json records the files' SHA-256 and the conversion.")
    p.add_argument("folder", help="folder holding 0.npy .. 14.npy (or a clone of the repository)")
    _save_arguments(p)
    p.set_defaults(func=_run_import_openai)


def add_import_nvidia(sub) -> None:
    p = sub.add_parser("import-nvidia", help="an NVIDIA sentiment-discovery mLSTM checkpoint -> a model folder",
                       description="Convert an NVIDIA sentiment-discovery checkpoint (.pt: pretrain.py language "
                       "model, transfer.py classifier, released 2018 models, finetune_classifier.py) into a model "
                       "folder; a linear classifier in it becomes a transfer result folder (OUT/transfer). The "
                       "file is read with torch.load(weights_only=True): a file that would run code is refused.")
    p.add_argument("file", help="the checkpoint (.pt, .pt.16, .clf)")
    p.add_argument("--gate-order", choices=GATE_ORDERS, default=DEFAULT_GATE_ORDER,
                   help="gate order of the file's code era: ifgo from April 2018 on (and the commit NVIDIA says "
                        "to run its 2018 models with), ifog in the 2018-03-28 code, ifou in Dec 2017 "
                        f"(default: {DEFAULT_GATE_ORDER}); the bits-per-character check of both orders is printed")
    p.add_argument("--allow-namespace", action="store_true",
                   help="let safe loading build argparse.Namespace (the arguments finetune_classifier.py pickles "
                        "into its checkpoints); nothing else is allowed")
    _classifier_arguments(p)
    _save_arguments(p)
    p.set_defaults(func=_run_import_nvidia)


def add_download(sub) -> None:
    known = ", ".join(PUBLISHED)
    p = sub.add_parser("download", help="fetch a published model (sizes and checksums checked) and import it",
                       description="Fetch a published model into the user cache, check each file's size and "
                       "digest (SHA-256 or git blob id, as public upstream), import it. A download that fails "
                       "a check is not installed; it is kept aside in the cache's published/rejected/ folder. "
                       "Files with no public digest (NVIDIA's) are checked by size only, with a warning. "
                       f"Known: {known}. Offline: fetch the files elsewhere and give them with --from.")
    p.add_argument("name", nargs="?", help="published model name (omit, or --list, to list them)")
    p.add_argument("--list", action="store_true", help="list the known published models and exit")
    p.add_argument("--from", dest="source", help="local copy: the folder holding the files (OpenAI's 0.npy..14.npy) "
                                                  "or the checkpoint file (NVIDIA's); checked, not downloaded")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server (default: 60)")
    _classifier_arguments(p)
    _save_arguments(p, required=False)
    p.set_defaults(func=_run_download)


def add_info(sub) -> None:
    p = sub.add_parser("info", help="what a model folder holds: architecture, tensors, size, source",
                       description="Print a model folder's config (architecture, preprocessing, vocabulary offset, "
                       "provenance), its tensors with shapes and dtypes, the parameter count, the size on disk "
                       "and, for an imported model, its source file(s) and their SHA-256. Reads no weights.")
    p.add_argument("model", help="model folder, or a shipped model's name")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=_run_info)


def _save_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--out", required=required, help="model folder to write (config.json + model.safetensors)")
    p.add_argument("--dtype", choices=tuple(SAVE_DTYPES), default="fp32",
                   help="how the tensors are stored: fp16/bf16 halve the file (329 -> 165 MiB at 4096 units); "
                        "loading always gives float32 (default: fp32, exact)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the bits-per-character check on a short review (seconds at 4096 units)")
    p.add_argument("--quiet", action="store_true", help="print only errors")


def _classifier_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transfer-out", help=f"where the file's classifier goes (default: OUT/{TRANSFER_SUBFOLDER})")
    p.add_argument("--label-names", default="negative,positive",
                   help="class names of the file's classifier, class 0 first (default: negative,positive)")
    p.add_argument("--task", help="what the classifier was trained on, for its report (default: the file's name)")


def _run_import_openai(args: argparse.Namespace) -> None:
    model = import_openai(args.folder, check_bpc=not args.no_check)
    _save(model, args)


def _run_import_nvidia(args: argparse.Namespace) -> None:
    imported = import_nvidia(args.file, args.gate_order, allow_namespace=args.allow_namespace,
                             check_bpc=not args.no_check)
    _save_nvidia(imported, args, task=args.task or Path(args.file).stem, gate_order=args.gate_order)


def _run_download(args: argparse.Namespace) -> None:
    if args.list or not args.name:
        for entry in PUBLISHED.values():
            print(f"{entry.name:<30} {entry.approx_mib:>4} MiB  {entry.summary}")
        return
    if not args.out:
        raise ValueError("give --out MODEL: the folder to write the imported model to")
    entry = published(args.name)
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    local = fetch_published(entry.name, args.source, timeout=args.timeout, log=say, warn=_warn)
    if entry.kind == "openai":
        _save(import_openai(local, check_bpc=not args.no_check), args)
    else:
        imported = import_nvidia(local, entry.gate_order or DEFAULT_GATE_ORDER, check_bpc=not args.no_check)
        imported.model.config.provenance["source"]["published_as"] = entry.name
        _save_nvidia(imported, args, task=args.task or entry.task or entry.name,
                     gate_order=entry.gate_order or DEFAULT_GATE_ORDER)


def _warn(message: str) -> None:
    """A file that could not be verified: said on stderr, also with --quiet."""
    print(f"warning: {message}", file=sys.stderr)


def _run_info(args: argparse.Namespace) -> None:
    info = describe_model(args.model)
    print(json.dumps(info, indent=2) if args.json else format_description(info))


def _save(model, args: argparse.Namespace) -> Path:
    out = save_model(model, args.out, dtype=args.dtype)
    if not args.quiet:
        info = describe_model(out)
        c = model.config
        print(f"{out}: mLSTM, H = {c.hidden_size}, E = {c.embed_size}, {256 + c.vocab_offset} symbols; "
              f"{info['parameters']:,} parameters, {args.dtype}, {info['bytes_on_disk']['total'] / 2**20:.1f} MiB")
        check = c.provenance.get("conversion", {}).get("check_bpc")
        if isinstance(check, dict):
            print("bits per character on a short review, by gate order: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in check.items()))
        elif check is not None:
            print(f"bits per character on a short review: {check:.3f} (a trained model: ~1.1-1.4)")
        for note in c.provenance.get("notes", []):
            print(f"note: {note}", file=sys.stderr)
    return out


def _save_nvidia(imported, args: argparse.Namespace, task: str, gate_order: str) -> None:
    out = _save(imported.model, args)
    check = imported.model.config.provenance["conversion"].get("check_bpc")
    other = other_gate_order(gate_order)
    if isinstance(check, dict) and check[other] < check[gate_order] - 0.1:
        print(f"warning: gate order {other} predicts the check text better than {gate_order} "
              f"({check[other]:.3f} vs {check[gate_order]:.3f} bits/char): this checkpoint may be of another "
              f"code era; re-import with --gate-order {other}", file=sys.stderr)
    if imported.classifier is None:
        return
    names = [n.strip() for n in args.label_names.split(",") if n.strip()]
    folder = Path(args.transfer_out) if args.transfer_out else out / TRANSFER_SUBFOLDER
    result = classifier_result(imported.classifier, names, task, str(out), imported.model.config.provenance)
    save_transfer(result, folder)
    if not args.quiet:
        unit = result.unit
        print(f"{folder}: the file's classifier as a transfer result on cell-last features ({task}); largest "
              f"weight: unit {unit.unit} (sign {unit.sign:+d}); accuracies not measured (NaN in report.json)")


def classifier_result(classifier: dict, label_names: list[str], task: str, model_name: str,
                      provenance: dict) -> TransferResult:
    """An NVIDIA file's linear classifier as a `TransferResult` on "cell-last" features (NVIDIA's).

    Its probe is the file's weights on unstandardized features (mean 0, scale 1); its sentiment
    unit is the unit of largest |weight|, with the one-feature model NVIDIA's own
    ``run_classifier.py --neurons 1`` uses (that unit's weight and the full intercept, not
    refitted). Accuracies, C and text counts are not known from the file: None (null in report.json).

    Raises:
        ValueError: label names that do not match the classifier's classes.
    """
    weight, bias = np.asarray(classifier["weight"], np.float64), np.asarray(classifier["bias"], np.float64)
    n_classes = 2 if weight.shape[0] == 1 else weight.shape[0]
    if len(label_names) != n_classes:
        raise ValueError(f"--label-names gives {len(label_names)} names ({', '.join(label_names)}) but the file's "
                         f"classifier has {n_classes} classes")
    hidden = weight.shape[1]
    classes = np.arange(n_classes)
    probe = L1Probe.from_arrays(np.zeros(hidden), np.ones(hidden), weight, bias, classes, C=float("nan"))
    strength = np.abs(weight).max(axis=0)
    unit = int(np.argmax(strength))
    sign = (1 if weight[0, unit] >= 0 else -1) if n_classes == 2 else 1  # binary: + means class 1
    sentiment_unit = SentimentUnit(unit=unit, sign=sign, train_accuracy=UNKNOWN, validation_accuracy=UNKNOWN,
                                   test_accuracy=UNKNOWN, mean=0.0, scale=1.0, coef=weight[:, unit].tolist(),
                                   intercept=bias.tolist())
    report = {
        "task": task, "model": model_name, "features": "cell-last", "hidden_size": hidden,
        "n": {"train": UNKNOWN, "validation": UNKNOWN, "test": UNKNOWN}, "label_names": label_names,
        "C": UNKNOWN, "validation_accuracy": UNKNOWN, "test_accuracy": UNKNOWN, "nonzero_units": int((weight != 0).any(0).sum()),
        "top_units": probe.top_units(10), "sentiment_unit": sentiment_unit.to_dict(),
        "sentiment_direction": None, "direction_histogram": None, "c_sweep": [], "feature_comparison": {},
        "histogram": None, "extremes": None,
        "imported": {
            "from": provenance.get("source", {}).get("path"), "sha256": provenance.get("source", {}).get("sha256"),
            "key": classifier.get("key"), "thresholds": classifier.get("thresholds"),
            "note": "NVIDIA's classifier, converted as is: logistic regression on the final cell state, "
                    "unstandardized. Accuracies, C and text counts are not recorded in the file (null); "
                    "the sentiment unit is the unit of largest |weight|, its one-feature model NVIDIA's "
                    "--neurons 1 (this weight and the full intercept, not refitted).",
        },
    }
    return TransferResult(report, probe)
