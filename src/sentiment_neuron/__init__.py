"""sentiment-neuron: byte-level mLSTM pretraining, L1 transfer and the sentiment unit.

Radford, Jozefowicz & Sutskever (2017), "Learning to Generate Reviews and
Discovering Sentiment"; NVIDIA's sentiment-discovery. The public API, one
import away::

    from sentiment_neuron import L1Probe, featurize, load_dataset, load_model

    model = load_model("runs/lm")
    train, val = load_dataset("sst2", "train"), load_dataset("sst2", "validation")
    probe = L1Probe().fit(featurize(model, train.texts), train.labels,
                          validation=(featurize(model, val.texts), val.labels))

    neuron = SentimentNeuron.from_pretrained("mlstm-reviews-512")  # the shipped model and its classifier
    neuron.classify(["A wonderful film."]).label_name, neuron.unit_values("A wonderful film.")

Names are loaded on first use (PEP 562), so `import sentiment_neuron` stays
light: torch, scikit-learn and matplotlib load only with the piece that needs them.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> the module that defines it (relative to this package)
_WHERE = {
    # data: records, files, named datasets, labeled tasks
    "Records": "data.records", "DataError": "data.records",
    "read_records": "data.readers", "iter_texts": "data.readers",
    "load_dataset": "data.registry", "Task": "data.tasks", "load_task": "data.tasks",
    # models
    "ByteLM": "models.bytelm", "ModelConfig": "models.bytelm",
    "load_model": "models.io", "save_model": "models.io",
    "import_openai": "models.importers", "import_nvidia": "models.importers", "describe_model": "models.importers",
    # training
    "pretrain": "training.pretrain", "TrainConfig": "training.config",
    # fine-tuning end to end (ULMFiT): the classifier, its schedule, its folder
    "Classifier": "training.classifier", "ClassifierConfig": "training.classifier",
    "FinetuneConfig": "training.finetune", "finetune": "training.finetune", "new_classifier": "training.finetune",
    # the one classifier folder: a model plus a head (L1 probe, unit, direction, fine-tuned)
    "SentimentClassifier": "classifier.heads", "save_classifier": "classifier.folder",
    "load_classifier": "classifier.folder",
    # transfer: features, the L1 probe, the sentiment unit, baselines, results
    "featurize": "transfer.features", "featurize_many": "transfer.features",
    "L1Probe": "transfer.probe", "SentimentUnit": "transfer.probe", "find_sentiment_unit": "transfer.probe",
    "TfidfBaseline": "transfer.baseline", "MultilabelL1Probe": "transfer.multilabel",
    "HybridProbe": "transfer.hybrid", "top_n_units": "transfer.topn",
    "SentimentDirection": "transfer.direction", "find_sentiment_directions": "transfer.direction",
    "TransferResult": "transfer.result", "load_transfer": "transfer.result", "save_transfer": "transfer.result",
    "classify_texts": "transfer.classify",
    # inspect: what the model sees
    "unit_trajectories": "inspect.heatmap", "write_heatmaps": "inspect.heatmap",
    "generate": "inspect.sampling", "Steering": "inspect.sampling", "DirectionSteering": "inspect.sampling",
    "steering_toward": "inspect.steering",
    "word_vectors": "inspect.wordvecs",
    # recipes: end to end, writing report folders
    "run_transfer": "recipes.transfer", "run_data_efficiency": "recipes.efficiency",
    "run_cross_domain": "recipes.crossdomain", "run_steering": "recipes.steering",
    "run_word_vectors": "recipes.wordvecs", "run_demo": "recipes.demo",
    "run_finetune": "recipes.finetune", "run_finetune_table": "recipes.finetune",
    # foundation
    "preprocess": "text", "resolve_precision": "precision",
    # the one-object API and the scikit-learn featurizer
    "SentimentNeuron": "api", "NeuronFeaturizer": "transfer.sklearn",
}

__all__ = ["__version__", *_WHERE]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'sentiment_neuron' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # the next lookup skips this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
