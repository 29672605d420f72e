"""Classifiers: a language model plus a head (L1 probe, sentiment unit, direction or fine-tuned), one folder kind."""
from .folder import FORMAT, FORMAT_VERSION, classifier_beside, find_classifier, is_classifier_folder, \
    load_classifier, model_reference, save_classifier
from .heads import HEADS, SentimentClassifier

__all__ = ["HEADS", "SentimentClassifier", "FORMAT", "FORMAT_VERSION", "save_classifier", "load_classifier",
           "is_classifier_folder", "model_reference", "classifier_beside", "find_classifier"]
