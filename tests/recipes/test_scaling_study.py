"""The scaling study's report (scripts/scaling_report.py): the compute frontier, the fit of accuracy
against log compute with its uncertainty, and the report written from evaluated points."""
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _report():
    spec = importlib.util.spec_from_file_location("scaling_report", SCRIPTS / "scaling_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _point(name, minutes, flops, sst2, imdb):
    return {"name": name, "target_minutes": minutes, "minutes": minutes, "steps": 10, "bytes_seen": 1e6 * minutes,
            "tokens_seen": 1e6 * minutes, "parameters": 1e6, "heldout_bits_per_byte": 2.0 - 0.01 * minutes,
            "featurize_chars_per_s": 1e4, "train_flops": flops,
            "transfer": {"sst2": {"probe": sst2, "unit": 0.55, "direction": sst2},
                         "imdb": {"probe": imdb, "unit": None, "direction": imdb}}}


def test_an_exact_line_is_recovered_with_no_uncertainty():
    report = _report()
    flops = [1e14, 1e15, 1e16, 1e17]
    fit = report.fit_log_compute(flops, [0.5 + 0.05 * math.log10(f / 1e14) for f in flops])
    assert fit["b"] == pytest.approx(0.05)
    assert fit["a"] == pytest.approx(0.5 - 0.05 * 14)
    assert fit["b_se"] == pytest.approx(0.0, abs=1e-9)
    ten, hundred = fit["predictions"]
    assert (ten["scale"], hundred["scale"]) == (10, 100)
    assert ten["accuracy"] == pytest.approx(0.5 + 0.05 * 4)
    assert hundred["low"] == pytest.approx(hundred["high"])


def test_the_interval_covers_the_truth_on_noisy_points_and_widens_further_out():
    report = _report()
    rng = np.random.default_rng(0)
    flops = np.logspace(14, 16, 9)
    truth = lambda f: 0.6 + 0.04 * np.log10(f / 1e14)  # noqa: E731
    fit = report.fit_log_compute(list(flops), list(truth(flops) + rng.normal(0, 0.01, len(flops))))
    assert abs(fit["b"] - 0.04) < 3 * fit["b_se"]
    ten, hundred = fit["predictions"]
    for p in (ten, hundred):
        assert p["low"] < truth(p["flops"]) < p["high"]
    assert hundred["high"] - hundred["low"] > ten["high"] - ten["low"]
    with pytest.raises(ValueError, match="3 points or more"):
        report.fit_log_compute([1e14, 1e15], [0.5, 0.6])


def test_the_frontier_keeps_only_points_no_cheaper_point_matches():
    report = _report()
    points = [_point("a", 10, 1e14, 0.60, 0.6), _point("b", 10, 2e14, 0.58, 0.6), _point("a", 30, 3e14, 0.63, 0.6),
              _point("b", 30, 6e14, 0.66, 0.6), _point("c", 10, 5e14, None, 0.6)]
    front = report.frontier(points, lambda p: p["transfer"]["sst2"]["probe"])
    assert [(p["name"], p["minutes"]) for p in front] == [("a", 10), ("a", 30), ("b", 30)]


def test_the_report_is_written_from_evaluated_points(tmp_path):
    report = _report()
    study = tmp_path / "study"
    for i, (name, minutes) in enumerate([("mlstm-256", 10), ("mlstm-256", 30), ("mlstm-256", 60),
                                         ("mlstm-512", 10)]):
        folder = study / name / "points" / f"{minutes}min"
        folder.mkdir(parents=True)
        point = _point(name, minutes, 1e14 * (i + 1), 0.55 + 0.02 * i, 0.6 + 0.01 * i)
        (folder / "eval.json").write_text(json.dumps(point))
    result = report.write_report(study, tmp_path / "out" / "scaling")
    assert len(result["points"]) == 4
    assert result["fits"]["sst2 probe"]["all points"]["points"] == 4
    # mlstm-512 at 10 minutes costs more than mlstm-256 at 60 but reads worse (bits per byte 1.9 against 1.4)
    assert result["fits"]["sst2 probe"]["bpb frontier"]["fitted"] == ["mlstm-256@10min", "mlstm-256@30min",
                                                                      "mlstm-256@60min"]
    assert (tmp_path / "out" / "scaling.png").stat().st_size > 1000
    text = (tmp_path / "out" / "scaling.md").read_text()
    assert "| mlstm-512 |" in text and "points per 10x compute" in text
    assert json.loads((tmp_path / "out" / "scaling.json").read_text())["fits"]["imdb probe"]["all points"]["b"] > 0


def test_the_fitted_frontier_is_chosen_by_bits_per_byte_not_by_the_accuracy_fitted(tmp_path):
    """A flat, noisy accuracy must not turn into growth by keeping only its record-setting points."""
    report = _report()
    study = tmp_path / "study"
    sst2 = [0.68, 0.66, 0.69, 0.67, 0.70, 0.66, 0.68, 0.67]  # flat around 67.6, noise only
    for i, accuracy in enumerate(sst2):
        folder = study / "m" / "points" / f"{i}"
        folder.mkdir(parents=True)
        point = _point("m", 10 * (i + 1), 1e14 * 2 ** i, accuracy, 0.6)  # bits per byte falls with every point
        (folder / "eval.json").write_text(json.dumps(point))
    fits = report.write_report(study, tmp_path / "out" / "scaling")["fits"]["sst2 probe"]
    assert fits["bpb frontier"]["points"] == len(sst2)
    assert abs(fits["bpb frontier"]["b"]) < 2 * fits["bpb frontier"]["b_se"]
    record_setters = report.frontier(report.read_points(study), lambda p: p["transfer"]["sst2"]["probe"])
    assert len(record_setters) == 3  # 0.68, 0.69, 0.70: the selection the fit no longer uses


def test_an_untrained_control_is_in_the_table_and_never_in_a_fit(tmp_path):
    report = _report()
    study = tmp_path / "study"
    points = [_point("m", 0, 0.0, 0.64, 0.66)] + [_point("m", m, f, a, 0.6) for m, f, a in
                                                   [(10, 1e14, 0.60), (30, 3e14, 0.62), (60, 6e14, 0.64)]]
    for point in points:
        folder = study / "m" / "points" / f"{point['minutes']}min"
        folder.mkdir(parents=True)
        (folder / "eval.json").write_text(json.dumps(point))
    result = report.write_report(study, tmp_path / "out" / "scaling")
    for fits in result["fits"]["sst2 probe"].values():
        assert fits["points"] == 3 and "m@0min" not in fits["fitted"]
    rows = [line for line in (tmp_path / "out" / "scaling.md").read_text().splitlines() if line.startswith("| m |")]
    assert rows[0].startswith("| m | 1.00 M | untrained |") and len(rows) == 4
    assert (tmp_path / "out" / "scaling.png").stat().st_size > 1000


def test_a_point_evaluated_on_another_cpu_is_marked_where_its_cost_is_not_comparable():
    report = _report()
    points = [{**_point("m", m, f, 0.6, 0.6), "cpu": "AMD EPYC (avx2)"} for m, f in [(10, 1e14), (30, 3e14)]]
    points.append({**_point("m", 0, 0.0, 0.6, 0.6), "cpu": "Intel Xeon (amx_bf16)"})
    rows = [line for line in report.markdown(points, {}, "both").splitlines() if line.startswith("| m |")]
    assert [row.endswith("10,000 (*) |") for row in rows] == [False, False, True]
    assert "(*) evaluated on Intel Xeon (amx_bf16), not on AMD EPYC (avx2)" in report.markdown(points, {}, "both")
    same = [{**p, "cpu": "AMD EPYC (avx2)"} for p in points]
    assert "(*)" not in report.markdown(same, {}, "one")


def test_each_family_is_also_fitted_alone(tmp_path):
    """A family whose accuracy stays flat and one whose accuracy grows: the line through both says little,
    each family's own line says which grows."""
    report = _report()
    study = tmp_path / "study"
    for name, accuracies in (("mlstm-512", (0.68, 0.67, 0.68)), ("transformer-2x256", (0.60, 0.64, 0.68))):
        for i, accuracy in enumerate(accuracies):
            folder = study / name / "points" / f"{10 * 3 ** i}min"
            folder.mkdir(parents=True)
            point = _point(name, 10 * 3 ** i, 1e14 * 3 ** i, accuracy, 0.6)
            (folder / "eval.json").write_text(json.dumps(point))
    fits = report.write_report(study, tmp_path / "out" / "scaling")["fits"]["sst2 probe"]
    assert set(fits) == {"bpb frontier", "all points", "mlstm points", "transformer points"}
    assert fits["mlstm points"]["fitted"] == ["mlstm-512@10min", "mlstm-512@30min", "mlstm-512@90min"]
    assert abs(fits["mlstm points"]["b"]) < 0.01
    assert fits["transformer points"]["b"] == pytest.approx(0.04 / math.log10(3))  # +4 points per 3x compute
    assert fits["transformer points"]["b"] > fits["all points"]["b"] + 0.02
    assert "every transformer point: b = 8.4" in (tmp_path / "out" / "scaling.md").read_text()

def test_versus_pairs_two_models_on_the_same_test_texts(tmp_path, monkeypatch, data_dir):
    """`scaling_study.py versus A B` transfers each model the study's way (small slices here) and pairs
    their probes' test predictions; run again, it reuses the transfers."""
    from helpers import tiny_model

    from sentiment_neuron.cli.main import main
    from sentiment_neuron.models import save_model

    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.setenv("SENTIMENT_NEURON_DATA", str(data_dir))
    spec = importlib.util.spec_from_file_location("scaling_study", SCRIPTS / "scaling_study.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    assert set(study.TASKS) == {"sst2", "imdb"}
    monkeypatch.setattr(study, "TASKS", {"sst2": ["--max-train", "120", "--max-test", "80", "--validation-size", "40"]})
    monkeypatch.setattr(study, "STUDY", tmp_path / "study")
    monkeypatch.setattr(study, "_cli", lambda *args: main(list(args)))  # in this process: no torch start per call
    for seed in (0, 1):
        save_model(tiny_model(16, seed=seed), tmp_path / f"m{seed}")
    comparisons = study.versus(str(tmp_path / "m0"), str(tmp_path / "m1"))
    assert [c["task"] for c in comparisons] == ["sst2"]
    for c in comparisons:
        assert c["n"] == 80
        assert c["difference"] == pytest.approx((c["a_only"] - c["b_only"]) / c["n"])
        slug = "_".join((tmp_path / "m0").parts[-3:])
        report = json.loads((tmp_path / "study" / "versus" / slug / c["task"] / "report.json").read_text())
        assert c["a"]["accuracy"] == pytest.approx(report["test_accuracy"])
    written = json.loads(next((tmp_path / "study" / "versus").glob("*m0--*m1.json")).read_text())
    assert written == json.loads(json.dumps(comparisons))
    calls = []
    monkeypatch.setattr(study, "_cli", lambda *args: calls.append(args))
    assert study.versus(str(tmp_path / "m0"), str(tmp_path / "m1")) == comparisons
    assert calls == []  # both models' transfers are kept and reused
