"""Data: labeled records, readers of the user's files, named datasets, tasks, and LM corpora.

* `records`: `Records` (texts, labels, class names) and `DataError`, which every reader raises.
* `readers`: `read_records` / `iter_texts` / `iter_stream_texts` for csv, tsv,
  json, jsonl and txt files, compressed or not (`formats`: csv/JSON rows and
  fields; `decoding`: bytes to text in any encoding).
* `registry`: the named datasets (`load_dataset`; `imdb`: the IMDb archive and its cache).
* `tasks`: a labeled task (`Task`, `load_task`).
* `corpus` (in-memory corpus, TBPTT batches) and `prepared` (the on-disk
  corpus format) use torch and numpy memmaps: import them from their modules.
"""
from .decoding import DEFAULT_ENCODING, ENCODING_ERRORS
from .readers import iter_stream_texts, iter_texts, read_records
from .records import DataError, Records, align_labels
from .registry import DATASETS, DatasetInfo, cache_dir, data_root, dataset_file, load_dataset
from .tasks import PARTS, Task, load_task

__all__ = [
    "DATASETS",
    "DEFAULT_ENCODING",
    "ENCODING_ERRORS",
    "PARTS",
    "DataError",
    "DatasetInfo",
    "Records",
    "Task",
    "align_labels",
    "cache_dir",
    "data_root",
    "dataset_file",
    "iter_stream_texts",
    "iter_texts",
    "load_dataset",
    "load_task",
    "read_records",
]
