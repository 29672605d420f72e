"""What a run records about where it ran."""
from __future__ import annotations

import platform
import sys


def library_versions() -> dict:
    """Versions of Python and the libraries results depend on."""
    import numpy
    import sklearn
    import torch

    from .. import __version__

    return {
        "sentiment_neuron": __version__,
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),  # TorchVersion would not load with weights_only
        "numpy": str(numpy.__version__),
        "sklearn": str(sklearn.__version__),
        "platform": platform.platform(),
    }
