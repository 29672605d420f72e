"""scikit-learn estimators: `NeuronFeaturizer`, texts -> the LM's pooled features.

With the L1 probe (`transfer.probe.L1Probe`, a ClassifierMixin) it makes the
paper's transfer a scikit-learn pipeline that drops into ``cross_val_score``
and ``GridSearchCV``::

    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(NeuronFeaturizer(model), L1Probe())
    search = GridSearchCV(pipe, {"l1probe__Cs": [(0.01,), (0.1,), (1.0,)]}, cv=3).fit(texts, labels)

Featurizing is the expensive step (a forward pass over every byte) and the
same texts come back in every fold and every grid point, so features are
cached by text: `FeatureCache` keys a row by a hash of the model's weights and
config, the feature spec, the precision and the text's SHA-256. Clones made by
``sklearn.base.clone`` (as GridSearchCV and cross_val_score make them) share
the model and the cache instead of deep-copying the model, so a grid search
featurizes each text once.
"""
from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..models import ByteLM
from ..precision import DEFAULT_PRECISION, PRECISIONS, resolve_precision
from .features import featurize, parse_spec, spec_name

__all__ = ["NeuronFeaturizer", "FeatureCache", "model_fingerprint", "text_key"]

DEFAULT_CACHE_MB = 256.0


class FeatureCache:
    """Feature rows by key, least recently used dropped once they pass `max_mb` megabytes (MiB).

    Thread-safe. Counts ``hits`` and ``misses`` (rows asked for and found, or not).
    Pickles without its lock (a new one is made on unpickling), so estimators
    holding it can go to joblib workers.
    """

    def __init__(self, max_mb: float = DEFAULT_CACHE_MB) -> None:
        self.max_mb = max_mb
        self._rows: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0
        self._lock = threading.Lock()

    def get(self, keys: Sequence[tuple]) -> list[np.ndarray | None]:
        """The cached row of each key, or None; counts hits and misses."""
        with self._lock:
            rows = [self._rows.get(k) for k in keys]
            for k, row in zip(keys, rows):
                if row is not None:
                    self._rows.move_to_end(k)
            found = sum(r is not None for r in rows)
            self.hits += found
            self.misses += len(rows) - found
            return rows

    def put(self, keys: Sequence[tuple], rows: np.ndarray) -> None:
        """Store rows (N, H) under N keys, then drop the oldest rows past `max_mb`."""
        limit = float(self.max_mb) * 2**20
        with self._lock:
            for k, row in zip(keys, rows):
                if k not in self._rows:
                    self._rows[k] = row = np.array(row, copy=True)
                    self._bytes += row.nbytes
            while self._rows and self._bytes > limit:
                _, row = self._rows.popitem(last=False)
                self._bytes -= row.nbytes

    def info(self) -> dict:
        """{"hits", "misses", "rows", "mb"}: what was asked for and what is held."""
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "rows": len(self._rows), "mb": self._bytes / 2**20}

    def clear(self) -> None:
        """Drop every row and reset the counts."""
        with self._lock:
            self._rows.clear()
            self._bytes = self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


_FINGERPRINTS: "weakref.WeakKeyDictionary[ByteLM, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


def model_fingerprint(model: ByteLM) -> str:
    """A BLAKE2b hash (hex) of the model's config and every parameter and buffer's bytes.

    Recomputed only when a tensor changed (its storage or in-place version counter),
    so a model trained or reloaded in place gets a new fingerprint.
    """
    tensors = [t.detach() for t in (*model.parameters(), *model.buffers())]
    stamp = tuple((t.data_ptr(), t._version, t.dtype, tuple(t.shape)) for t in tensors)
    known = _FINGERPRINTS.get(model)
    if known is not None and known[0] == stamp:
        return known[1]
    digest = hashlib.blake2b(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode(),
                             digest_size=16)
    for t in tensors:
        digest.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy())  # the raw bytes, any dtype
    fingerprint = digest.hexdigest()
    _FINGERPRINTS[model] = (stamp, fingerprint)
    return fingerprint


def text_key(text: str) -> str:
    """SHA-256 (hex) of the text's UTF-8 bytes (lone surrogates kept, as surrogatepass writes them)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def check_texts(X) -> list[str]:
    """N texts from a list/tuple/1-d array/pandas Series of str, or a 2-d array with one column.

    Raises:
        ValueError: a single string, an empty collection, or a 2-d input with other than one column.
        TypeError: an element that is not a str.
    """
    if isinstance(X, (str, bytes)):
        raise ValueError("expected a collection of texts, got a single string: wrap it in a list")
    array = np.asarray(X, dtype=object)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"expected N texts (a 1-d collection of str), got an array of shape {array.shape}")
    if len(array) == 0:
        raise ValueError("no texts: got an empty collection")
    bad = next((x for x in array if not isinstance(x, str)), None)
    if bad is not None:
        raise TypeError(f"expected texts (str), got {type(bad).__name__} {bad!r:.60}")
    return [str(x) for x in array]


class NeuronFeaturizer(TransformerMixin, BaseEstimator):
    """Texts -> float32 (N, H) features of a ByteLM (`transfer.features.featurize`), as an estimator.

    Stateless: ``fit`` learns nothing from the texts (it checks the parameters and
    records the feature spec); ``transform`` featurizes, reading and filling the
    feature cache.

    Args:
        model: the ByteLM (never trained here; clones share it, see the module docstring).
        state: "hidden" or "cell"; pooling: "last", "mean" or "max"; None: the model's default.
        precision: "auto", "fp32" or "bf16" (`precision.resolve_precision`).
        batch_size: texts per forward pass; chunk_len: bytes per forward call.
        max_bytes: read only the first max_bytes bytes of each preprocessed text (None: all).
        cache_mb: features kept in the cache, in MiB (0: no caching).
        quiet: no progress bar.

    Fitted attributes:
        features_ (str, e.g. "hidden-mean"), n_features_out_ (int, H).

    Raises (fit, transform):
        ValueError: an unknown state, pooling or precision, batch_size/chunk_len < 1, no texts,
            or a single string instead of a collection; TypeError: a text that is not a str.

    Example:
        >>> X = NeuronFeaturizer(model, pooling="max").fit_transform(["Great!", "Awful."])  # (2, H)
    """

    def __init__(self, model: ByteLM, state: str | None = None, pooling: str | None = None,
                 precision: str = DEFAULT_PRECISION, batch_size: int = 128, chunk_len: int = 256,
                 max_bytes: int | None = None, cache_mb: float = DEFAULT_CACHE_MB, quiet: bool = True) -> None:
        self.model = model
        self.state = state
        self.pooling = pooling
        self.precision = precision
        self.batch_size = batch_size
        self.chunk_len = chunk_len
        self.max_bytes = max_bytes
        self.cache_mb = cache_mb
        self.quiet = quiet
        self._cache = FeatureCache(cache_mb)

    def __sklearn_clone__(self) -> "NeuronFeaturizer":
        """An unfitted twin with the same parameters that shares the model and the feature cache.

        scikit-learn's default clone deep-copies every parameter that is not an
        estimator, the model too (hundreds of MB at H=4096, once per fold and grid
        point); the model is read-only here, so sharing it is safe.
        """
        twin = type(self)(**self.get_params(deep=False))
        twin._cache = self._cache
        return twin

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # texts, not a numeric matrix
        tags.input_tags.one_d_array = True
        tags.input_tags.string = True
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = []  # texts in, float32 features out
        return tags

    @property
    def cache(self) -> FeatureCache:
        """The feature cache this featurizer and its clones share (`FeatureCache.info()` for hits and misses)."""
        return self._cache

    def fit(self, X, y=None) -> "NeuronFeaturizer":
        """Check the parameters and texts; learns nothing. Returns self."""
        check_texts(X)
        self.features_ = self._spec()
        self.n_features_out_ = int(self.model.hidden_size)
        return self

    def transform(self, X) -> np.ndarray:
        """Features of the texts: float32 (N, H), rows in input order; cached rows are not recomputed."""
        check_is_fitted(self)
        texts = check_texts(X)
        state, pooling = parse_spec(self.features_)
        device = self.model.device
        precision = resolve_precision(self.precision, device, PRECISIONS)
        base = (model_fingerprint(self.model), self.features_, precision, self.max_bytes)
        keys = [(*base, text_key(t)) for t in texts]
        self._cache.max_mb = self.cache_mb
        rows = self._cache.get(keys) if self.cache_mb > 0 else [None] * len(keys)
        missing = list(dict.fromkeys(k for k, row in zip(keys, rows) if row is None))  # unique, in order
        if missing:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            new = featurize(self.model, [texts[first[k]] for k in missing], state, pooling,
                            batch_size=self.batch_size, chunk_len=self.chunk_len, precision=precision,
                            max_bytes=self.max_bytes, quiet=self.quiet, desc="NeuronFeaturizer")
            if self.cache_mb > 0:
                self._cache.put(missing, new)
            computed = dict(zip(missing, new))
            rows = [computed[k] if row is None else row for k, row in zip(keys, rows)]
        return np.stack(rows).astype(np.float32, copy=False)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """["unit0", ..., "unit{H-1}"] (object array): one name per hidden unit."""
        check_is_fitted(self)
        return np.asarray([f"unit{i}" for i in range(self.n_features_out_)], dtype=object)

    def _spec(self) -> str:
        default_state, default_pooling = parse_spec(self.model.default_features)
        spec = spec_name(parse_spec((self.state or default_state, self.pooling or default_pooling)))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("batch_size", "chunk_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_bytes is not None and (not isinstance(self.max_bytes, (int, np.integer)) or self.max_bytes < 1):
            raise ValueError(f"max_bytes must be a positive integer or None, got {self.max_bytes!r}")
        if not (isinstance(self.cache_mb, (int, float)) and self.cache_mb >= 0):
            raise ValueError(f"cache_mb must be a number >= 0, got {self.cache_mb!r}")
        return spec
