"""Importers of published mLSTM weights into our model format (config.json + model.safetensors).

- `import_openai`: OpenAI's ``model/0.npy`` .. ``14.npy`` (Radford et al. 2017).
- `import_nvidia`: NVIDIA sentiment-discovery checkpoints (2018, 2019), read with
  ``torch.load(weights_only=True)``: a file that would run code is refused.
- `PUBLISHED`, `fetch_published`: the known published models, fetched with their sizes and
  checksums checked.
- `describe_model`: what a model folder holds (``sentiment-neuron info``).

An imported model computes what the original code computes (tests/models/importers check it
against independent NumPy implementations of each original's equations); save it with
`models.io.save_model`.
"""
from .common import GATE_ORDERS
from .info import describe_model, format_description
from .nvidia import DEFAULT_GATE_ORDER, NvidiaImport, import_nvidia
from .openai import import_openai
from .published import PUBLISHED, Published, fetch_published, published
from .safeload import load_checkpoint

__all__ = [
    "import_openai", "import_nvidia", "NvidiaImport", "GATE_ORDERS", "DEFAULT_GATE_ORDER", "load_checkpoint",
    "PUBLISHED", "Published", "published", "fetch_published", "describe_model", "format_description",
]
