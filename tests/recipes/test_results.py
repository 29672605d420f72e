"""`make results` on a tiny model and small slices: every table, the control, the README section replaced."""
import json

import pytest
from helpers import tiny_model

from sentiment_neuron.models import save_model
from sentiment_neuron.recipes.results import BEGIN, END, replace_section, run_results, untrained_like


@pytest.fixture(scope="module")
def results(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    folder = save_model(tiny_model(16, seed=7), out / "tiny-lm")  # not the control's initialization (seed 0)
    readme = out / "README.md"
    readme.write_text(f"# Title\n\n## Results\n\n{BEGIN}\nold numbers\n{END}\n\n## After\n")
    summary = run_results(out / "run", model=str(folder), imdb_train=80, imdb_test=80, steering_n=4,
                          cross_domain_max=80, readme=readme, data_dir=data_dir, quiet=True, precision="fp32")
    return out, summary, readme


def test_every_experiment_is_in_the_json(results):
    out, summary, _ = results
    assert json.loads((out / "run" / "results.json").read_text()) == json.loads(json.dumps(summary))
    for name in ("sst2", "imdb"):
        row = summary["transfer"][name]
        for key in ("l1_probe", "unit_accuracy", "control_l1_probe", "control_unit_accuracy", "tfidf"):
            assert 0 <= row[key] <= 1
    assert summary["transfer"]["imdb"]["n"]["test"] == 80
    sst = summary["transfer"]["sst2"]
    assert (sst["control_l1_probe"], sst["control_unit_accuracy"]) != (sst["l1_probe"], sst["unit_accuracy"])
    assert {"rows", "sizes"} <= set(summary["efficiency"])
    assert "paired_test" in summary["steering"]
    assert summary["steering"]["settings"]["n"] == 4
    assert "accuracy" in summary["cross_domain"]
    assert summary["machine"]["cpu"]
    assert summary["machine"]["precision"] == "fp32"


def test_the_readme_section_is_replaced_and_the_rest_kept(results):
    _, _, readme = results
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.startswith("# Title\n\n## Results\n\n" + BEGIN)
    assert text.endswith(END + "\n\n## After\n")
    for heading in ("**Transfer**", "**Data efficiency**", "**Steering**", "**Cross-domain**", "control: L1 probe"):
        assert heading in text


def test_a_readme_without_markers_is_refused(tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# no markers\n")
    with pytest.raises(ValueError, match="README.md: no <!-- results:begin -->"):
        replace_section(path, "x")


def test_a_section_between_other_markers_is_replaced_and_the_results_markers_left_alone(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"a\n{BEGIN}\nkeep\n{END}\n<!-- s:begin -->\nold\n<!-- s:end -->\nz\n")
    replace_section(path, "new table\n\n", ("<!-- s:begin -->", "<!-- s:end -->"))
    assert path.read_text() == f"a\n{BEGIN}\nkeep\n{END}\n<!-- s:begin -->\nnew table\n<!-- s:end -->\nz\n"
    with pytest.raises(ValueError, match="no <!-- t:begin --> ... <!-- t:end -->"):
        replace_section(path, "x", ("<!-- t:begin -->", "<!-- t:end -->"))


def test_the_control_is_the_same_architecture_untrained():
    model = tiny_model(16)
    control = untrained_like(model, seed=0)
    assert control.config.to_dict() == {**model.config.to_dict(), "provenance": {}}
    again = untrained_like(model, seed=0)
    assert all((a == b).all() for a, b in zip(control.state_dict().values(), again.state_dict().values()))
