"""The scaling study: how held-out bits per byte and transfer accuracy grow with model size and training
compute on one CPU core (README, "How accuracy grows with compute").

Each model of `MODELS` is one pretraining run on the same documents (the byte corpus for the mLSTMs, the same
documents as 8k sentencepiece ids for the Transformers; `scripts/compare_lms.sh corpora` makes both), on core
$CORE with one thread, checkpointed every 10 minutes and kept. Its checkpoints nearest 10, 30 and 60 minutes
of training are the study's points; each point records the bytes it saw and the training FLOPs they cost.
Each model also has an untrained control (its architecture at a seed-0 initialization, evaluated the same way):
a large random state already gives an L1 probe something to read, and training is worth only the difference.

    python scripts/scaling_study.py train mlstm-256       # pretrain (continues with --resume if started)
    python scripts/scaling_study.py evaluate mlstm-256    # export the points, evaluate each
    python scripts/scaling_study.py report                # table, plot and fit: docs/results/scaling.*
    python scripts/scaling_study.py all                   # every model in turn, each evaluated after it trains
    python scripts/scaling_study.py list                  # the models and what is done
    python scripts/scaling_study.py versus runs/flagship mlstm-reviews-512   # paired test on SST-2 and IMDB

A point's evaluation: held-out bits per byte on the first 512 KiB of the validation split (fp32; ids for a
subword model: about the same text), `transfer` on SST-2 and on IMDB with the demo's split (1,000 / 250 /
1,000: the L1 probe on all units, the best unit, the probe's direction), and the cost to featurize: characters
per second of the SST-2 test sentences on one thread.

The fit (`fit_log_compute`): accuracy = a + b log10(FLOPs), least squares, with the standard errors of a and b
and the 90% prediction interval at 10x and 100x the largest compute measured; once over the compute frontier
chosen by held-out bits per byte (no cheaper point has lower bits per byte; never chosen by the accuracy fitted,
which would select on its noise), once over every point, and over each family alone (an mLSTM's untrained
control already reads much of its accuracy, a Transformer's does not: one line through both mixes two intercepts).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = Path(os.environ.get("RUNS", "runs/cmp"))
STUDY = RUNS / "study"
CORE = os.environ.get("CORE", "0")
README_MARKERS = ("<!-- scaling:begin -->", "<!-- scaling:end -->")
TARGET_MINUTES = (10, 30, 60)
CONTROL = 0  # the untrained control's "minutes": the architecture at a seeded initialization (seed 0), no training
EVAL_BYTES = 2**19
TASKS = {"sst2": [],  # all of SST-2; IMDB with the demo's split: 1,000 training reviews, 250 validation, 1,000 test
         "imdb": ["--max-train", "1000", "--max-test", "1000", "--validation-size", "250"]}
MLSTM = ["--batch-size", "128", "--seq-len", "128", "--lr", "0.002", "--warmup-steps", "50"]
TRANSFORMER = ["--rnn", "transformer", "--batch-size", "64", "--seq-len", "128", "--lr", "0.001",
               "--warmup-steps", "30"]
MODELS = {  # name -> (corpus folder under RUNS, pretrain flags)
    "mlstm-256": ("corpus", MLSTM + ["--hidden-size", "256"]),
    "mlstm-512": ("corpus", MLSTM + ["--hidden-size", "512"]),
    "mlstm-1024": ("corpus", MLSTM + ["--hidden-size", "1024"]),
    "mlstm-2048": ("corpus", MLSTM + ["--hidden-size", "2048"]),
    "transformer-2x256": ("corpus-sp8k", TRANSFORMER + ["--num-layers", "2", "--hidden-size", "256",
                                                        "--num-heads", "4"]),
    "transformer-4x256": ("corpus-sp8k", TRANSFORMER + ["--num-layers", "4", "--hidden-size", "256",
                                                        "--num-heads", "4"]),
    "transformer-4x384": ("corpus-sp8k", TRANSFORMER + ["--num-layers", "4", "--hidden-size", "384",
                                                        "--num-heads", "6"]),
}

ORDER = ("mlstm-256", "transformer-2x256", "mlstm-512", "transformer-4x256", "mlstm-1024", "transformer-4x384",
         "mlstm-2048")  # smallest first, the two families alternating: a partial study has both


def _one_core_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "SENTIMENT_NEURON_DATA": os.environ.get("SENTIMENT_NEURON_DATA", str(ROOT.parent / "shared" / "data"))}


def _cli(*args: str) -> None:
    command = ["taskset", "-c", CORE, sys.executable, "-m", "sentiment_neuron.cli", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=_one_core_env())


def train(name: str, minutes: float) -> None:
    """Pretrain `name` for `minutes` of training in all (a started run continues from its newest checkpoint)."""
    corpus, flags = MODELS[name]
    out = STUDY / name
    resume = ["--resume"] if (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()) else []
    _cli("pretrain", "--corpus", str(RUNS / corpus), *flags, "--max-minutes", str(minutes),
         "--checkpoint-minutes", "10", "--keep-checkpoints", "100", "--eval-every", "1000000000",
         "--out", str(out), "--quiet", *resume)


def checkpoints(name: str) -> list[tuple[float, Path]]:
    """(training minutes, file) of every checkpoint of `name`, oldest first."""
    import torch

    found = []
    for path in sorted((STUDY / name / "checkpoints").glob("*.pt")):
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["train_state"]  # no weights read
        found.append((state["seconds"] / 60, path))
    return found


def points_of(name: str) -> dict[int, Path]:
    """The checkpoint nearest each of `TARGET_MINUTES` (within 40% of it), by target; and for `CONTROL`, the
    first checkpoint (only its configuration is read: the control is untrained)."""
    found = checkpoints(name)
    chosen = {CONTROL: found[0][1]} if found else {}
    for target in TARGET_MINUTES:
        near = [(abs(m - target), path) for m, path in found if abs(m - target) <= 0.4 * target]
        if near:
            chosen[target] = min(near)[1]
    return chosen


def export_point(name: str, checkpoint: Path, folder: Path, untrained: bool = False) -> None:
    """Write the checkpoint's model as a model folder, its training record in the config's provenance; with
    `untrained`, the same architecture at its seed-0 initialization instead (the control: what a probe reads
    from random features of that size, which every trained point's accuracy is to be read against)."""
    import torch

    from sentiment_neuron.data.prepared import load_prepared_corpus
    from sentiment_neuron.models import ByteLM, save_model
    from sentiment_neuron.models.io import model_config_from_dict
    from sentiment_neuron.recipes.results import untrained_like

    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)  # the optimizer is not read
    ts, train_config = ckpt["train_state"], ckpt["train_config"]
    model = ByteLM(model_config_from_dict(ckpt["model_config"], checkpoint),
                   tokenizer=load_prepared_corpus(RUNS / MODELS[name][0]).tokenizer)
    if untrained:
        model = untrained_like(model, seed=0)
        record = {"untrained": True, "seed": 0, "minutes": 0.0, "steps": 0, "bytes_seen": 0, "tokens_seen": 0}
    else:
        model.load_state_dict(ckpt["model"])
        record = {"checkpoint": checkpoint.name, "minutes": ts["seconds"] / 60, "steps": ts["step"],
                  "bytes_seen": ts["bytes_seen"], "tokens_seen": ts.get("tokens_seen", ts["bytes_seen"])}
    model.config.provenance = {"study": name, **record, "train_config": train_config}
    save_model(model, folder)


def featurize_cost(model) -> float:
    """Characters per second featurizing the SST-2 test sentences (this process's threads, the model's precision)."""
    from sentiment_neuron.data import load_task
    from sentiment_neuron.transfer.features import featurize

    texts = load_task("sst2").test.texts
    t0 = time.perf_counter()
    featurize(model, texts)
    return sum(len(t) for t in texts) / (time.perf_counter() - t0)


def evaluate(name: str) -> None:
    """Export and evaluate every point of `name` not yet evaluated (each writes POINT/eval.json)."""
    from compare_lms import _transfer, train_flops_per_token

    from sentiment_neuron.atomic import atomic_write_text
    from sentiment_neuron.models.io import read_model_config

    for target, checkpoint in points_of(name).items():
        folder = STUDY / name / "points" / f"{target}min"
        if (folder / "eval.json").is_file():
            continue
        export_point(name, checkpoint, folder, untrained=target == CONTROL)
        study_transfers(str(folder), folder / "eval")
        run = [sys.executable, __file__, "_measure", str(folder), str(RUNS / MODELS[name][0])]
        measured = json.loads(subprocess.run(["taskset", "-c", CORE, *run], check=True, env=_one_core_env(),
                                             capture_output=True, text=True).stdout)
        config = read_model_config(folder)
        trained = config.provenance
        record = {"name": name, "target_minutes": target,
                  **{k: trained[k] for k in ("minutes", "steps", "bytes_seen", "tokens_seen")}, **measured,
                  "train_flops": train_flops_per_token(config, trained["train_config"]["seq_len"])
                  * trained["tokens_seen"],
                  "transfer": {task: _transfer(folder / "eval" / task) for task in ("sst2", "imdb")}}
        atomic_write_text(folder / "eval.json", json.dumps(record, indent=1) + "\n")  # the point's "done" mark
        print(json.dumps(record), flush=True)


def study_transfers(model: str, out: Path) -> None:
    """`transfer` of `model` (a folder or a shipped name) on each of `TASKS`, into out/TASK (fp32, no feature
    comparison); a task whose folder already holds test predictions is not run again."""
    for task, extra in TASKS.items():
        if not (out / task / "test_predictions.npz").is_file():
            _cli("transfer", "--model", model, "--dataset", task, *extra, "--compare", "", "--precision", "fp32",
                 "--out", str(out / task), "--quiet")


def versus(a: str, b: str) -> list[dict]:
    """Is model `a` better than model `b` on the study's tasks? Each is transferred the study's way (once,
    into STUDY/versus/NAME), then their L1 probes' test predictions are paired: the exact McNemar test
    (`transfer.paired`). Prints the verdicts, writes STUDY/versus/A--B.json and returns the comparisons."""
    from sentiment_neuron.atomic import atomic_write_text
    from sentiment_neuron.transfer.paired import compare_transfers, format_comparison

    folders = {model: STUDY / "versus" / _slug(model) for model in (a, b)}
    for model, folder in folders.items():
        study_transfers(model, folder)
    comparisons = [compare_transfers(folders[a] / task, folders[b] / task, "probe") for task in TASKS]
    for comparison in comparisons:
        print(format_comparison(comparison))
    path = STUDY / "versus" / f"{_slug(a)}--{_slug(b)}.json"
    atomic_write_text(path, json.dumps(comparisons, indent=1) + "\n")
    return comparisons


def _slug(model: str) -> str:
    """A folder name for a model: a shipped name as it is, a folder by its last three parts
    (study/transformer-2x256/points/60min -> transformer-2x256_points_60min: a point's own name repeats)."""
    return "_".join(Path(model).parts[-3:])


def _measure(folder: Path, corpus: Path) -> None:
    """(In a one-thread subprocess) print the point's parameters, held-out bits per byte (first `EVAL_BYTES`),
    featurize cost and the CPU they were measured on."""
    import torch
    from compare_lms import heldout_bits_per_byte

    from sentiment_neuron.data.prepared import load_prepared_corpus
    from sentiment_neuron.models import load_model

    torch.set_num_threads(1)
    model = load_model(folder)
    print(json.dumps({"parameters": sum(p.numel() for p in model.parameters()),
                      "heldout_bits_per_byte": heldout_bits_per_byte(model, load_prepared_corpus(corpus), EVAL_BYTES),
                      "featurize_chars_per_s": featurize_cost(model), "cpu": _cpu()}))


def _cpu() -> str:
    from compare_lms import _benchmark

    return _benchmark().cpu_description()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="pretrain one model of the study")
    p.add_argument("name", choices=tuple(MODELS))
    p.add_argument("--minutes", type=float, default=max(TARGET_MINUTES), help="training minutes in all")
    p = sub.add_parser("evaluate", help="evaluate a model's points")
    p.add_argument("name", choices=tuple(MODELS))
    p = sub.add_parser("report", help="table, plot and fit")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "scaling")
    p.add_argument("--readme", type=Path, help="also put the table and fits in this file, between "
                   f"{README_MARKERS[0]} and {README_MARKERS[1]}")
    p = sub.add_parser("versus", help="is model A better than model B on SST-2 and IMDB? (paired, exact McNemar)")
    p.add_argument("a", help="a model folder or shipped name")
    p.add_argument("b", help="another, e.g. mlstm-reviews-512")
    sub.add_parser("list", help="the models, their checkpoints and evaluated points")
    sub.add_parser("all", help="train and evaluate every model in turn (continues where it stopped)")
    p = sub.add_parser("_measure")
    p.add_argument("folder", type=Path)
    p.add_argument("corpus", type=Path)
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args.name, args.minutes)
    elif args.command == "evaluate":
        evaluate(args.name)
    elif args.command == "all":
        for name in ORDER:
            train(name, max(TARGET_MINUTES))
            evaluate(name)
    elif args.command == "versus":
        versus(args.a, args.b)
    elif args.command == "_measure":
        _measure(args.folder, args.corpus)
    elif args.command == "list":
        for name in MODELS:
            minutes = [round(m, 1) for m, _ in checkpoints(name)] if (STUDY / name).is_dir() else []
            done = sorted(p.parent.name for p in (STUDY / name / "points").glob("*/eval.json"))
            print(f"{name:<20} checkpoints at {minutes} min; evaluated: {done}")
    else:
        from scaling_report import write_report

        write_report(STUDY, args.out)
        if args.readme:
            from sentiment_neuron.recipes.results import replace_section

            replace_section(args.readme, args.out.with_suffix(".md").read_text(), README_MARKERS)


if __name__ == "__main__":
    main()
