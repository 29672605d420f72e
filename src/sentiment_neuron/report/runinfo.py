"""What a run records about where it ran."""
from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """sentiment-neuron's installed version ("0+unknown" when run from a source tree never installed)."""
    try:
        return version("sentiment-neuron")
    except PackageNotFoundError:
        return "0+unknown"


def library_versions() -> dict:
    """Versions of Python and the libraries results depend on."""
    import numpy
    import sklearn
    import torch

    return {
        "sentiment_neuron": package_version(),
        "python": sys.version.split()[0],
        "torch": str(torch.__version__),  # TorchVersion would not load with weights_only
        "numpy": str(numpy.__version__),
        "sklearn": str(sklearn.__version__),
        "platform": platform.platform(),
    }
