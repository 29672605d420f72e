"""The finetune command: fine-tune one classifier end to end, or (--table) fill the table
"What does transfer carry?" (`recipes.finetune`)."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..models import load_model
from ..recipes.finetune import ROWS, TABLE_TASKS, TableConfig, run_finetune, run_finetune_table
from ..recipes.finetune_report import table_markdown
from ..training.classifier import NORMS, ClassifierConfig
from ..training.finetune import FinetuneConfig
from ..transfer.metrics import THRESHOLD_OBJECTIVES
from .arguments import MODEL_HELP, common_arguments, dataclass_defaults, labeled_data_arguments, precision_argument, \
    task_from_args

# FinetuneConfig and ClassifierConfig fields with a flag defaulting to None (not given: the library's default)
TRAIN_FLAGS = ("lr", "lr_decay", "epochs", "max_minutes", "batch_size", "clip", "weight_decay", "evals_per_phase",
               "patience", "threshold_objective")
HEAD_FLAGS = ("bptt_window", "chunk_len", "max_bytes", "norm", "head_hidden")
TABLE_FLAGS = ("imdb_train", "imdb_test", "imdb_validation", "imdb_chars", "semeval_validation")
SCHEDULES = {"ulmfit": {}, "all-at-once": {"discriminative": False, "stlr": False, "gradual_unfreezing": False}}


def add_finetune(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a classifier end to end (ULMFiT), or fill the transfer table",
                       description="Fine-tune the LM encoder + a concat-pooling head ([last, max, mean] hidden state) "
                       "on a labeled task: gradual unfreezing, discriminative learning rates and a slanted triangular "
                       "LR (--schedule ulmfit), early stopping on validation; binary, multiclass or multilabel "
                       "(per-label thresholds tuned on validation). Writes the classifier folder OUT (config.json + "
                       "model.safetensors; apply it with `classify --finetuned OUT`). With --table: the table "
                       "'What does transfer carry?' (TF-IDF, L1 probe, hybrid, random init, embedding only, two "
                       "fine-tunings) on SST-2, an IMDB subset and SemEval-2018 E-c, in OUT/report.md and report.json.")
    f, h, t = dataclass_defaults(FinetuneConfig), dataclass_defaults(ClassifierConfig), dataclass_defaults(TableConfig)
    table_ft = TableConfig().finetune
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--out", required=True, help="the classifier folder (with --table: the report folder)")
    p.add_argument("--table", action="store_true", help="fill the table 'What does transfer carry?' instead")
    labeled_data_arguments(p, f"{', '.join(TABLE_TASKS)} (semeval2018_ec: --validation-size tweets held out of "
                           "train; the official dev set is the test set)", multilabel=True)
    p.add_argument("--schedule", choices=tuple(SCHEDULES), default="ulmfit",
                   help="ulmfit: gradual unfreezing + discriminative LRs + slanted triangular LR; all-at-once: "
                        "every layer from the start, one constant LR (default: ulmfit; --table: each row's own)")
    p.add_argument("--lr", type=float, help=f"peak learning rate of the head (default: {f['lr']:g})")
    p.add_argument("--lr-decay", type=float, help=f"discriminative LR factor per layer group down "
                   f"(default: {f['lr_decay']:g})")
    p.add_argument("--epochs", type=float, help=f"passes over the training texts in all (default: {f['epochs']:g}; "
                   f"--table: {table_ft.epochs:g})")
    p.add_argument("--max-minutes", type=float, help="cap on training minutes per classifier (default: none; "
                   f"--table: {table_ft.max_minutes:g})")
    p.add_argument("--batch-size", type=int, help=f"texts per step (default: {f['batch_size']}; --table: "
                   f"{table_ft.batch_size})")
    p.add_argument("--clip", type=float, help=f"gradient-norm clipping (default: {f['clip']:g})")
    p.add_argument("--weight-decay", type=float, help=f"AdamW's (default: {f['weight_decay']:g})")
    p.add_argument("--evals-per-phase", type=int, help=f"validation scores per phase (default: {f['evals_per_phase']})")
    p.add_argument("--patience", type=int, help=f"last phase: stop after this many scores without a better one "
                   f"(default: {f['patience']})")
    p.add_argument("--threshold-objective", choices=THRESHOLD_OBJECTIVES,
                   help="multilabel: what the per-label thresholds maximize on validation: jaccard (the mean Jaccard "
                        "over texts, SemEval-2018 E-c's headline) or f1 (each label's own F1) (default: "
                        f"{f['threshold_objective']}; --table: every row's)")
    p.add_argument("--bptt-window", type=int, help=f"gradients through the last this many bytes of a batch "
                   f"(default: {h['bptt_window']}; --table: {TableConfig().head.get('bptt_window')})")
    p.add_argument("--chunk-len", type=int,
                   help=f"bytes per encoder call, the state carried (default: {h['chunk_len']})")
    p.add_argument("--max-bytes", type=int, help="keep only the first this many bytes of each text (default: all)")
    p.add_argument("--norm", choices=NORMS, help=f"the head's normalization (default: {h['norm']})")
    p.add_argument("--head-hidden", type=int, help=f"units of the head's first block (default: {h['head_hidden']})")
    p.add_argument("--tasks", default=",".join(TABLE_TASKS), help=f"--table: tasks (default: {','.join(TABLE_TASKS)})")
    p.add_argument("--rows", default=",".join(ROWS), help=f"--table: rows (default: all: {','.join(ROWS)})")
    for name in TABLE_FLAGS:
        p.add_argument("--" + name.replace("_", "-"), type=int,
                       help=f"--table (default: {t[name]}{'; 0: whole reviews' if name == 'imdb_chars' else ''})")
    precision_argument(p)
    common_arguments(p)
    p.set_defaults(func=_run_finetune)


def _given(args, names) -> dict:
    return {k: getattr(args, k) for k in names if getattr(args, k) is not None}


def _run_finetune(args: argparse.Namespace) -> None:
    model = load_model(args.model, device=args.device)
    schedule = {**_given(args, TRAIN_FLAGS), "precision": args.precision, "device": str(args.device), "seed": args.seed}
    head = _given(args, HEAD_FLAGS)
    if args.table:  # each row has its own schedule: --schedule does not apply
        base = TableConfig()
        cfg = replace(base, tasks=_names(args.tasks), rows=_names(args.rows),
                      finetune=replace(base.finetune, **schedule), head={**base.head, **head}, **_table_sizes(args))
        report = run_finetune_table(model, args.out, cfg, model_name=str(args.model), data_dir=args.data_dir,
                                    seed=args.seed, quiet=args.quiet, precision=args.precision)
        print(table_markdown(report).split("## Fine-tuning budget")[0].rstrip())
        print(f"\nreport: {Path(args.out) / 'report.md'}")
        return
    config = FinetuneConfig(**SCHEDULES[args.schedule], **schedule)
    info = run_finetune(model, task_from_args(args), args.out, config, head, str(args.model), args.quiet)
    best = info["best"]
    test = ", ".join(f"{k} {100 * v:.1f}" for k, v in info["test"].items() if isinstance(v, float))
    print(f"{args.out}: best validation {100 * best['validation_score']:.1f} (phase {best['phase']}, step "
          f"{best['step']}); test {test}; {info['seconds']:.0f} s on {info['device']}")


def _table_sizes(args) -> dict:
    sizes = _given(args, TABLE_FLAGS)
    if sizes.get("imdb_chars") == 0:  # 0: whole reviews
        sizes["imdb_chars"] = None
    return sizes


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())
