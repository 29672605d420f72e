"""Fine-tuning recipes: one classifier (`run_finetune`), and the table "What does transfer carry?"
(`run_finetune_table`).

The table asks ULMFiT's question (Howard & Ruder 2018) of one pretrained LM:
what is carried from the language model to the classifier? On each task
(binary SST, an IMDB subset, SemEval-2018 E-c's 11 emotions), same splits and
seed, seven methods:

1. TF-IDF word 1-2 grams + logistic regression (no LM);
2. the L1 probe on the frozen LM's pooled features (the paper's transfer);
3. the hybrid: one logistic regression on [TF-IDF, LM features] (`transfer.hybrid`);
4. the classifier (concat-pooling head) trained from random initialization;
5. the same with only the byte embedding transferred, the rest random;
6. full fine-tuning with gradual unfreezing + discriminative LR + STLR;
7. full fine-tuning of all layers at once with one constant LR.

Rows 4-6 share one schedule (ULMFiT's), so they differ only in what is
transferred; rows 6-7 differ only in the schedule, with the same budget.
Every row records its wall time and device. Writes OUT/report.json and
OUT/report.md (`finetune_report`), and the row-6 classifiers in OUT/classifiers/<task>/.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.tasks import HELD_OUT_VALIDATION, PARTS, Task, load_task
from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_device, resolve_precision
from ..report.markdown import write_json
from ..report.runinfo import library_versions
from ..classifier import SentimentClassifier, model_reference, save_classifier
from ..training.finetune import FinetuneConfig, evaluate, finetune, new_classifier
from ..transfer.features import featurize_task, parse_spec, spec_name
from ..transfer.hybrid import HybridProbe
from ..transfer.metrics import single_label_metrics
from ..transfer.multilabel import MultilabelL1Probe
from ..transfer.probe import L1Probe
from ..atomic import atomic_write_text
from .finetune_report import table_markdown
from .results import machine, untrained_like

TABLE_TASKS = ("sst2", "imdb", "semeval2018_ec")
ROWS = {
    "tfidf": "TF-IDF + logistic regression",
    "l1_probe": "L1 probe on pooled features (frozen LM)",
    "hybrid": "hybrid: TF-IDF + LM features",
    "random_init": "classifier trained from random init (same architecture)",
    "embedding_only": "only the byte embedding transferred, the rest random",
    "finetune_ulmfit": "full fine-tuning, gradual unfreezing + discriminative LR + STLR",
    "finetune_all_at_once": "full fine-tuning, all layers at once, one LR",
}
FINETUNED_ROWS = ("random_init", "embedding_only", "finetune_ulmfit", "finetune_all_at_once")
TABLE_PROBE_CS = tuple(float(c) for c in np.logspace(-3, 0, 7))
ALL_AT_ONCE = {"discriminative": False, "stlr": False, "gradual_unfreezing": False}


def _table_finetune() -> FinetuneConfig:
    # The budget of the published table (README, "Fine-tuning end to end"): with a 512-unit mLSTM on
    # 2 CPU cores every classifier ends on its 3 epochs before the 3-minute cap; a GPU does more in that time.
    return FinetuneConfig(epochs=3.0, max_minutes=3.0, batch_size=64, evals_per_phase=2)


@dataclass
class TableConfig:
    """The table's tasks, rows and budgets.

    Attributes:
        tasks, rows: which to run (`TABLE_TASKS`, `ROWS`' keys), in order.
        imdb_train, imdb_test, imdb_validation: the IMDB subset (seeded draws; the validation
            reviews are held out of the training set).
        imdb_chars: each IMDB review cut to its LAST this many characters (where reviews state
            their verdict), for every method alike; None keeps them whole.
        semeval_validation: tweets held out of SemEval's training set for validation (C, thresholds,
            early stopping); SemEval's official dev set (886 tweets) is the test set (the official test
            labels are not public).
        features: the frozen LM's features for rows 2-3 (default: the model's, e.g. hidden-mean).
        probe_Cs: the L1 probe's C grid (row 2): up to 1, not 10 as `probe.DEFAULT_CS`; on 512
            units each larger C fits ~5x slower (C = 1: ~15 s per label on one core), and SemEval
            fits one probe per emotion.
        finetune: the budget and schedule of rows 4-6 (row 7: the same, all layers at once, one LR).
        head: `ClassifierConfig` fields (bptt_window, chunk_len, max_bytes, norm, ...).
    """

    tasks: tuple[str, ...] = TABLE_TASKS
    rows: tuple[str, ...] = tuple(ROWS)
    imdb_train: int = 2000
    imdb_test: int = 2000
    imdb_validation: int = 300
    imdb_chars: int | None = 600
    semeval_validation: int = HELD_OUT_VALIDATION["semeval2018_ec"]
    features: str | None = None
    probe_Cs: tuple[float, ...] = TABLE_PROBE_CS
    finetune: FinetuneConfig = field(default_factory=_table_finetune)
    head: dict = field(default_factory=lambda: {"bptt_window": 256})

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in TABLE_TASKS] + [r for r in self.rows if r not in ROWS]
        if unknown:
            raise ValueError(f"unknown tasks/rows {unknown}: tasks are {', '.join(TABLE_TASKS)}; "
                             f"rows are {', '.join(ROWS)}")


def table_task(name: str, cfg: TableConfig, data_dir: str | Path | None = None, seed: int = 0) -> Task:
    """The table's split of a named task (see `TableConfig`).

    Raises:
        ValueError: an unknown task. DataError: a dataset is missing.
    """
    if name == "sst2":
        return load_task("sst2", data_dir, seed=seed)
    if name == "imdb":
        task = load_task("imdb", data_dir, cfg.imdb_train, cfg.imdb_test, cfg.imdb_validation, seed)
        if cfg.imdb_chars is None:
            return task
        cut = lambda r: replace(r, texts=[t[-cfg.imdb_chars:] for t in r.texts])  # noqa: E731
        return Task("imdb", cut(task.train), cut(task.validation), cut(task.test))
    if name == "semeval2018_ec":
        return load_task(name, data_dir, validation_size=cfg.semeval_validation, seed=seed)
    raise ValueError(f"unknown task {name!r}: the table's tasks are {', '.join(TABLE_TASKS)}")


def run_finetune_table(model: ByteLM, out: str | Path, cfg: TableConfig | None = None, model_name: str = "",
                       data_dir: str | Path | None = None, seed: int = 0, quiet: bool = False,
                       precision: str = DEFAULT_PRECISION, tasks: dict[str, Task] | None = None) -> dict:
    """Fill the table "What does transfer carry?" and write OUT/report.json + OUT/report.md.

    Args:
        model: the pretrained LM (never modified: fine-tuned rows train copies).
        cfg: tasks, rows and budgets (default `TableConfig()`).
        tasks: Tasks already loaded, by name (default: `table_task` of each of cfg.tasks).
        precision: of every LM computation ("auto": bf16 where native, else fp32).

    Returns:
        report.json's dict: {"model", "tasks": {name: sizes and notes}, "rows": {row: {"title",
        "results": {task: {"test", "validation", "seconds", "device", ...}}}}, "machine", ...}.
    """
    cfg, out, start = cfg or TableConfig(), Path(out), time.time()
    device = resolve_device(cfg.finetune.device)
    requested, precision = precision, resolve_precision(precision, device, PRECISIONS)
    fcfg = replace(cfg.finetune, precision=precision, seed=seed, device=str(device))
    tasks = tasks or {name: table_task(name, cfg, data_dir, seed) for name in cfg.tasks}
    spec = spec_name(parse_spec(cfg.features or model.default_features))
    report = {"model": model_name, "hidden_size": model.hidden_size, "features": spec,
              "tasks": {name: _task_info(task) for name, task in tasks.items()},
              "table_config": _jsonable(asdict(replace(cfg, finetune=fcfg))),
              "rows": {row: {"title": ROWS[row], "results": {}} for row in cfg.rows},
              "machine": machine(requested, device), "seed": seed, "precision": precision, "finished": False}
    earlier = _resumable(out / "report.json", report)
    report["reused_results"] = sum(len(r) for row, r in earlier.items() if row in report["rows"])
    for name, task in tasks.items():
        todo = [row for row in cfg.rows if name not in earlier.get(row, {})]
        for row in cfg.rows:
            if row not in todo:
                report["rows"][row]["results"][name] = earlier[row][name]
        frozen = [r for r in todo if r in ("l1_probe", "hybrid")]
        X, feature_seconds = _features(model, task, spec, precision, device, quiet) if frozen else (None, 0.0)
        for row in tqdm(todo, desc=f"{name} rows", disable=quiet):
            t0 = time.time()
            if row in FINETUNED_ROWS:
                result = _finetuned_row(row, model, task, fcfg, cfg.head, out, quiet)
            else:
                result = _probe_row(row, task, X, seed, cfg.probe_Cs, fcfg.threshold_objective)
            result["seconds"] = round(time.time() - t0 + (feature_seconds if row in frozen else 0.0), 1)
            if row in frozen:
                result["feature_seconds"] = round(feature_seconds, 1)
            result.setdefault("device", "cpu" if row == "tfidf" else str(device))
            report["rows"][row]["results"][name] = result
            _write_table(report, out, time.time() - start)  # a stopped run keeps every finished row
    report["finished"] = True
    _write_table(report, out, time.time() - start)
    return report


def _write_table(report: dict, out: Path, seconds: float) -> None:
    """OUT/report.json and OUT/report.md, atomically; "seconds" counts this run's wall time only."""
    report["seconds"] = round(seconds, 1)
    report["versions"] = library_versions()
    write_json(report, out / "report.json")
    atomic_write_text(out / "report.md", table_markdown(report))


def _resumable(path: Path, report: dict) -> dict:
    """{row: {task: result}} finished by an earlier run into the same folder with the same model, tasks,
    settings, seed, precision and machine kind; {} when there is none (or it differs: then it is redone)."""
    if not path.is_file():
        return {}
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    same = ("model", "hidden_size", "features", "tasks", "table_config", "seed", "precision", "machine")
    if any(earlier.get(k) != report[k] for k in same):
        return {}
    return {row: dict(r.get("results", {})) for row, r in earlier.get("rows", {}).items()}


def _jsonable(value):
    """`value` as it reads back from JSON (tuples become lists), so settings compare equal across runs."""
    return json.loads(json.dumps(value))


def run_finetune(model: ByteLM, task: Task, out: str | Path, config: FinetuneConfig | None = None,
                 head: dict | None = None, model_name: str = "", quiet: bool = False) -> dict:
    """Fine-tune one classifier on `task` (early stopping on its validation split), score it on the
    test split, and save it to the classifier folder `out` (`classifier.folder`: config.json + model.safetensors).

    Returns the provenance saved with it: {"model", "task", "n", "config", "head", "best", "history",
    "test", "seconds", "device", "precision", "versions"}.

    Raises:
        ValueError: a split without labels, or labels that do not fit one classifier.
    """
    config = config or FinetuneConfig()
    classifier = new_classifier(copy.deepcopy(model), task.train, **(head or {}))
    result = finetune(classifier, task.train, task.validation, config, quiet)
    test = evaluate(result.classifier, task.test, config.eval_batch_size, result.precision)
    info = {"model": model_name, "task": task.name, "n": _task_info(task)["n"], "config": asdict(config),
            "head": result.classifier.config.to_dict(), **result.summary(), "test": test,
            "versions": library_versions()}
    result.classifier.training_info = info
    save_classifier(SentimentClassifier("finetuned", finetuned=result.classifier, model=model_reference(model_name),
                                        training=info), out)
    return info


def _features(model: ByteLM, task: Task, spec: str, precision: str, device, quiet: bool):
    t0 = time.time()
    lm = model.to(device)
    X = featurize_task(lm, task, [spec], quiet, precision)
    model.to("cpu")
    return {part: X[part][spec] for part in PARTS}, time.time() - t0


def _probe_row(row: str, task: Task, X: dict | None, seed: int, Cs: tuple[float, ...], objective: str) -> dict:
    """Rows 1-3: TF-IDF, the L1 probe, the hybrid; test and validation scores (multilabel: thresholds
    tuned on validation for `objective`, as the fine-tuned rows')."""
    parts = {part: getattr(task, part) for part in PARTS}
    names = task.train.label_names
    if row == "l1_probe" and task.train.multilabel:
        probe = MultilabelL1Probe(seed=seed, threshold_objective=objective, Cs=Cs).fit(X["train"], task.train.labels,
                                                 validation=(X["validation"], task.validation.labels),
                                                 label_names=names)
        score = lambda part: probe.score(X[part], parts[part].labels)  # noqa: E731
        return {"test": score("test"), "validation": score("validation"), "nonzero_units": probe.nonzero_units()}
    if row == "l1_probe":
        probe = L1Probe(Cs=Cs, seed=seed).fit(X["train"], task.train.labels,
                                       validation=(X["validation"], task.validation.labels))
        score = lambda part: single_label_metrics(parts[part].labels, probe.predict(X[part]))  # noqa: E731
        return {"test": score("test"), "validation": score("validation"), "C": probe.C_,
                "nonzero_units": probe.nonzero_units_}
    hybrid = HybridProbe(use_lm=row == "hybrid", seed=seed, threshold_objective=objective)
    lm = (lambda part: X[part]) if row == "hybrid" else (lambda part: None)
    hybrid.fit(task.train.texts, lm("train"), task.train.labels,
               validation=(task.validation.texts, lm("validation"), task.validation.labels), label_names=names)
    return {"test": hybrid.score(task.test.texts, lm("test"), task.test.labels),
            "validation": hybrid.score(task.validation.texts, lm("validation"), task.validation.labels),
            "C": hybrid.C_}


def row_encoder(row: str, model: ByteLM, seed: int = 0) -> ByteLM:
    """The encoder a fine-tuned row starts from: a copy of `model` (rows 6-7), a seeded random network of
    its architecture (row 4), or that random network with `model`'s byte embedding copied in (row 5)."""
    if row in ("finetune_ulmfit", "finetune_all_at_once"):
        return copy.deepcopy(model)
    if row not in ("random_init", "embedding_only"):
        raise ValueError(f"{row!r} is not a fine-tuned row ({', '.join(FINETUNED_ROWS)})")
    encoder = untrained_like(model, seed)
    if row == "embedding_only":
        encoder.embed.load_state_dict(model.embed.state_dict())
    return encoder


def _finetuned_row(row: str, model: ByteLM, task: Task, fcfg: FinetuneConfig, head: dict, out: Path,
                   quiet: bool) -> dict:
    """Rows 4-7: a classifier on a copy of the LM (or on random weights), fine-tuned and tested."""
    encoder = row_encoder(row, model, fcfg.seed)
    config = replace(fcfg, **ALL_AT_ONCE) if row == "finetune_all_at_once" else fcfg
    result = finetune(new_classifier(encoder, task.train, **head), task.train, task.validation, config, quiet)
    test = evaluate(result.classifier, task.test, config.eval_batch_size, result.precision)
    if row == "finetune_ulmfit":
        info = {"task": task.name, **result.summary(), "test": test}
        result.classifier.training_info = info
        save_classifier(SentimentClassifier("finetuned", finetuned=result.classifier, training=info),
                        out / "classifiers" / task.name)
    return {"test": test, "validation": result.best["validation"],
            "best": {k: result.best[k] for k in ("phase", "step")},
            "phases": [{k: h[k] for k in ("phase", "step", "trainable", "validation_score", "train_loss")}
                       for h in result.history],
            "finetune_seconds": round(result.seconds, 1), "device": result.device}


def _task_info(task: Task) -> dict:
    return {"n": {part: len(getattr(task, part)) for part in PARTS}, "multilabel": task.train.multilabel,
            "label_names": list(task.train.label_names), "sources": {p: getattr(task, p).source for p in PARTS}}

