"""The language-model comparison table: held-out bits per byte, training throughput, transfer and fine-tuning.

    python scripts/compare_lms.py --run mlstm=runs/cmp/mlstm:runs/cmp/corpus \
        --run transformer=runs/cmp/transformer:runs/cmp/corpus-sp8k --out docs/results/lm_comparison

For each run (NAME=MODEL_FOLDER:CORPUS_FOLDER, evaluated by `scripts/compare_lms.sh evaluate`):

- held-out bits per byte on the corpus's whole validation split, fp32 (the bits of every predicted id over
  the UTF-8 bytes those ids read: `training.step.evaluate_bpc`), so byte and subword models compare;
- training throughput from the run's metrics.jsonl (bytes/s, tokens/s) and as a fraction of the
  matrix-multiply rate measured here, in this process, on one thread in the run's precision (the run's
  matrix-product FLOPs per token are counted from its sizes: `train_flops_per_token`);
- transfer (`transfer`: the L1 probe, the best single unit, the probe's direction) on SST-2 and IMDB (the demo's
  split), and TF-IDF, the L1 probe and the fine-tuned classifier from `finetune --table` on those and on
  SemEval-2018 E-c (multilabel: no single unit or direction).

Writes OUT.json and OUT.md and prints the Markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import time
from pathlib import Path

import torch

from sentiment_neuron.data.prepared import load_prepared_corpus
from sentiment_neuron.models import load_model
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.step import evaluate_bpc

TASKS = ("sst2", "imdb")
ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("mlstm_throughput", ROOT / "benchmarks" / "mlstm_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_flops_per_token(config, seq_len: int) -> float:
    """Matrix-product FLOPs to train on one token (forward + backward = 3 x forward), from the model's sizes.

    mLSTM (Krause et al. 2016): x -> (m, gates) and h -> (m, gates): 2 (E + H)(H + 4H), decoder 2 H V.
    Transformer: per block 2 x 12 D^2 (q, k, v, output, 4D MLP) + attention 2 x 2 D x context (scores and
    values; context = the cached tokens + half the window on average), decoder 2 D V.
    """
    H, E, V = config.hidden_size, config.embed_size, config.vocab_size
    if config.rnn == "transformer":
        context = config.attention_memory + seq_len / 2
        forward = config.num_layers * (24 * H * H + 4 * H * context) + 2 * H * V
    elif config.rnn == "mlstm":
        forward = 2 * (E + H) * 5 * H + 2 * H * V
    else:
        gates = {"lstm": 4, "gru": 3}[config.rnn]
        forward = 2 * gates * H * (E + H) + 2 * gates * H * 2 * H * (config.num_layers - 1) + 2 * H * V
    return 3.0 * forward


def _transfer(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    directions = report.get("sentiment_directions") or {}
    unit = report.get("sentiment_unit") or {}
    return {"probe": report.get("test_accuracy"), "unit": unit.get("test_accuracy"), "unit_index": unit.get("unit"),
            "direction": (directions.get("probe") or {}).get("test_accuracy"),
            "mean_difference": (directions.get("mean-difference") or {}).get("test_accuracy")}


def _finetune_table(folder: Path) -> dict:
    rows = json.loads((folder / "report.json").read_text())["rows"]
    return {row: {task: result["test"] for task, result in rows[row]["results"].items()} for row in rows}


def heldout_bits_per_byte(model, corpus, eval_bytes: int = 10 ** 12) -> float:
    """Bits per byte of `model` (CPU, fp32) on the first `eval_bytes` of `corpus`'s validation split (default:
    all of it), for bytes and ids alike (`training.step.evaluate_bpc`)."""
    cfg = dataclasses.replace(TrainConfig(max_steps=1, precision="fp32"), eval_bytes=eval_bytes)
    table = None if model.reads_bytes else model.tokenizer.piece_bytes()
    return evaluate_bpc(model, corpus.validation, cfg, torch.device("cpu"), table)


def evaluate_run(name: str, model_folder: Path, corpus_folder: Path, matmul) -> dict:
    model = load_model(model_folder)
    corpus = load_prepared_corpus(corpus_folder)
    provenance = model.config.provenance
    train = provenance["train_config"]
    t0 = time.perf_counter()
    bits_per_byte = heldout_bits_per_byte(model, corpus)
    seconds = provenance["minutes"] * 60
    flops = train_flops_per_token(model.config, train["seq_len"])
    tokens_per_s = provenance.get("tokens_seen", provenance["bytes_seen"]) / seconds
    rate = matmul(train["precision"])
    evaluation = model_folder / "eval"
    return {
        "name": name, "model": str(model_folder), "corpus": str(corpus_folder), "rnn": model.config.rnn,
        "tokenizer": model.tokenizer.kind, "vocab_size": model.config.vocab_size,
        "hidden_size": model.config.hidden_size, "num_layers": model.config.num_layers,
        "parameters": sum(p.numel() for p in model.parameters()),
        "minutes": provenance["minutes"], "bytes_seen": provenance["bytes_seen"],
        "tokens_seen": provenance.get("tokens_seen", provenance["bytes_seen"]),
        "bytes_per_s": provenance["bytes_seen"] / seconds, "tokens_per_s": tokens_per_s,
        "precision": train["precision"], "train_flops_per_token": flops,
        "matmul_flops_per_s": rate, "matmul_fraction": tokens_per_s * flops / rate,
        "heldout_bits_per_byte": bits_per_byte, "heldout_documents": corpus.validation_documents,
        "heldout_seconds": round(time.perf_counter() - t0, 1),
        "transfer": {task: _transfer(evaluation / task) for task in TASKS if (evaluation / task).is_dir()},
        "finetune_table": _finetune_table(evaluation / "finetune") if (evaluation / "finetune").is_dir() else {},
    }


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _semeval(scores: dict | None) -> str:
    if not scores:
        return "-"
    return f"{100 * scores['jaccard']:.1f} / {100 * scores['micro_f1']:.1f} / {100 * scores['macro_f1']:.1f}"


def markdown(runs: list[dict], machine: str) -> str:
    lines = [f"Measured on {machine}; one core, one thread; precision as listed.", "",
             "| | " + " | ".join(r["name"] for r in runs) + " |", "|---|" + "---|" * len(runs)]

    def row(label, cell):
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in runs) + " |")

    row("model", lambda r: f"{r['rnn']} {r['num_layers']} x {r['hidden_size']}, {r['tokenizer']} "
        f"({r['vocab_size']:,}), {r['parameters'] / 1e6:.2f} M parameters")
    row("training minutes / bytes seen", lambda r: f"{r['minutes']:.1f} / {r['bytes_seen'] / 1e6:.1f} M")
    row("held-out bits per byte", lambda r: f"**{r['heldout_bits_per_byte']:.3f}**")
    row("bytes/s, tokens/s", lambda r: f"{r['bytes_per_s']:,.0f}, {r['tokens_per_s']:,.0f}")
    row("fraction of the matmul rate", lambda r: f"{r['matmul_fraction']:.2f} of {r['matmul_flops_per_s'] / 1e9:.0f} "
        f"GFLOP/s ({r['precision']})")
    for task, label in (("sst2", "SST-2"), ("imdb", "IMDB 1k")):
        row(f"{label}: L1 probe", lambda r, t=task: _pct(r["transfer"].get(t, {}).get("probe")))
        row(f"{label}: best unit", lambda r, t=task: _pct(r["transfer"].get(t, {}).get("unit")))
        row(f"{label}: direction", lambda r, t=task: _pct(r["transfer"].get(t, {}).get("direction")))
        row(f"{label}: fine-tuned", lambda r, t=task: _pct(
            r["finetune_table"].get("finetune_ulmfit", {}).get(t, {}).get("accuracy")))
        row(f"{label}: TF-IDF", lambda r, t=task: _pct(r["finetune_table"].get("tfidf", {}).get(t, {}).get("accuracy")))
    row("SemEval E-c (Jaccard / micro-F1 / macro-F1): L1 probe",
        lambda r: _semeval(r["finetune_table"].get("l1_probe", {}).get("semeval2018_ec")))
    row("SemEval E-c: fine-tuned", lambda r: _semeval(r["finetune_table"].get("finetune_ulmfit", {})
                                                      .get("semeval2018_ec")))
    row("SemEval E-c: TF-IDF", lambda r: _semeval(r["finetune_table"].get("tfidf", {}).get("semeval2018_ec")))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, metavar="NAME=MODEL:CORPUS")
    parser.add_argument("--out", required=True, help="path prefix of OUT.json and OUT.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    bench = _benchmark()
    rates: dict[str, float] = {}

    def matmul(precision: str) -> float:
        if precision not in rates:
            rates[precision] = bench.measure_matmul(torch.device("cpu"), precision, size=2048)
        return rates[precision]

    runs = []
    for spec in args.run:
        name, _, folders = spec.partition("=")
        model_folder, _, corpus_folder = folders.partition(":")
        runs.append(evaluate_run(name, Path(model_folder), Path(corpus_folder), matmul))
    machine = bench.cpu_description()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "threads": 1, "runs": runs}, indent=1) + "\n")
    text = markdown(runs, machine)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
