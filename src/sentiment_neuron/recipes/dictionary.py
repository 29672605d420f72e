"""`sentiment-neuron dictionary`: train a dictionary on a model's states, measure it, explain its features.

Writes OUT as a dictionary folder (`dictionary.folder`): config.json (with the
training record and the held-out statistics), dictionary.safetensors,
features.json (every live feature explained), features.html (the feature
browser) and report.md (the statistics for people).
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..atomic import atomic_write_text
from ..classifier.folder import model_reference
from ..dictionary.browser import write_browser
from ..dictionary.evaluate import dictionary_statistics
from ..dictionary.explain import explain_features
from ..dictionary.folder import Dictionary, save_dictionary
from ..dictionary.train import DictionaryTrainConfig, train_dictionary
from ..models import ByteLM
from ..report.markdown import format_table
from ..report.runinfo import library_versions

__all__ = ["run_dictionary", "dictionary_markdown", "DEFAULT_EXPLAIN_TEXTS"]

DEFAULT_EXPLAIN_TEXTS = 1000


def run_dictionary(model: ByteLM, texts: Callable[[], Iterable[str]], out: str | Path,
                   config: DictionaryTrainConfig | None = None, model_name: str = "", source: str = "",
                   explain_texts: int = DEFAULT_EXPLAIN_TEXTS, resume: bool = False, quiet: bool = False
                   ) -> Dictionary:
    """Train (or resume), measure on the held-out texts, explain on the first `explain_texts` texts, write OUT.

    Args:
        model: the ByteLM whose states the dictionary reads.
        texts: a function returning a fresh iterable of the corpus's texts (the same order every call).
        config: training settings (`DictionaryTrainConfig`); on resume the checkpoint's.
        model_name: the model's name or folder, recorded with its weights' digest.
        source: what the texts are, for the record.

    Returns:
        The saved `Dictionary` (features explained).

    Raises:
        ValueError, FileNotFoundError: as `train_dictionary`.
    """
    out, start = Path(out), time.time()
    sae, record, held_out = train_dictionary(model, texts, out, config, resume=resume, quiet=quiet)
    config = DictionaryTrainConfig(**record["config"])
    statistics, _ = dictionary_statistics(model, sae, held_out, config.state, config.max_bytes, record["precision"])
    dictionary = Dictionary(sae, config.state, -1, model_reference(model_name),
                            {**record, "source": source, "versions": library_versions()}, statistics)
    explained = list(itertools.islice(iter(texts()), explain_texts))
    doc = explain_features(model, dictionary, explained, max_bytes=config.max_bytes, precision=record["precision"])
    dictionary.explained = doc
    dictionary.training["seconds_total"] = round(time.time() - start, 1)
    save_dictionary(dictionary, out)
    write_browser(doc, out / "features.html", title=f"Dictionary of {model_name or 'a model'}")
    atomic_write_text(out / "report.md", dictionary_markdown(dictionary, doc))
    return dictionary


def dictionary_markdown(dictionary: Dictionary, doc: dict | None = None) -> str:
    """The statistics (and, with `doc`, the ten most frequent features) as Markdown."""
    s, t = dictionary.statistics, dictionary.training
    cfg = dictionary.sae.config
    lines = [f"# Dictionary: {cfg.n_features} features, k = {cfg.k}, on the {dictionary.state} state of "
             f"{dictionary.model.get('name') or 'a model'}", "",
             f"Trained on {t.get('positions', 0):,} positions ({t.get('source', '')}) in {t.get('seconds', 0):.0f} s, "
             f"{t.get('precision', '')}.", "",
             format_table(["statistic", "value"], [
                 ["fraction of variance unexplained", f"{s['fvu']:.3f}"], ["mean L0", f"{s['l0']:.1f}"],
                 ["dead features", f"{s['dead']} ({s['dead_fraction']:.1%})"],
                 [f"dense features (> {s['dense_density']:.0%} of positions)",
                  f"{s['dense']} ({s['dense_fraction']:.1%})"],
                 ["bits per byte", f"{s['bpc']:.3f}"],
                 ["bits per byte, reconstruction spliced in", _number(s["bpc_spliced"])],
                 ["bits per byte, read-out only", _number(s.get("bpc_readout"))],
                 ["bits per byte, state mean-ablated", _number(s["bpc_mean_ablated"])],
                 ["loss recovered", "" if s.get("loss_recovered") is None else f"{s['loss_recovered']:.1%}"],
                 ["held-out positions", f"{s['positions']:,}"]]), ""]
    if doc and doc["features"]:
        top = sorted(doc["features"], key=lambda f: -f["density"])[:10]
        lines += ["## The ten most frequent features", "",
                  format_table(["feature", "label", "density", "max"],
                               [[f["index"], repr(f["label"]), f"{f['density']:.2%}", f"{f['max_activation']:.2f}"]
                                for f in top]),
                  "", "Every feature, its contexts and histogram: features.html (the feature browser).", ""]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    """A bits-per-byte figure, or "-" where it was not measured (a Transformer's cache cannot be spliced)."""
    return "-" if value is None else f"{value:.3f}"
