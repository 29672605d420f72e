"""The dictionary study on a tiny model and small slices: every method at every budget, steering, files."""
import json

import numpy as np

from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.recipes.feature_study import METHODS, run_feature_study
from sentiment_neuron.transfer.baseline import TfidfBaseline


def test_the_study_measures_every_method_and_steers(model, trained, data_dir, tmp_path):
    dictionary = trained[0]
    tasks = {"sst2": {"max_train": 120, "max_test": 100}}
    train = load_dataset("sst2", "train", data_dir).subset(np.arange(300))
    judge = TfidfBaseline(Cs=(10.0,)).fit(train.texts, train.labels)
    result = run_feature_study(model, dictionary, tmp_path, "tiny", sizes=(10, 30), draws=2, steering_n=4,
                               data_dir=data_dir, quiet=True, tasks=tasks, judge=judge)
    task = result["tasks"]["sst2"]
    assert task["n"]["train"] == 120 and task["n"]["test"] == 100
    for m in METHODS:
        assert task["curves"][m]["n"] == [10, 30]
        assert all(0 <= v <= 1 for v in task["curves"][m]["mean"] if np.isfinite(v))
        assert 0 <= task["full"][m] <= 1 or m == "direction"
    assert 0 <= task["chosen"]["feature"] < dictionary.n_features
    steering = result["steering"]
    assert {"feature positive", "feature negative", "positive", "negative"} <= set(steering["fraction_positive"])
    assert "p_value" in steering["feature"]["paired_test"]
    saved = json.loads((tmp_path / "feature_study.json").read_text())
    assert saved["tasks"]["sst2"]["full"] == task["full"]
    assert (tmp_path / "learning_curves.png").is_file()
    assert "best feature (dictionary)" in (tmp_path / "feature_study.md").read_text()
