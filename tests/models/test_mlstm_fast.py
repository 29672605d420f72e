"""The mLSTM's default recurrence without autograd (featurization: the fused window with its
input-side products taken step by step) against the plain loop with autograd, its reference;
and the throughput benchmark's code path on a tiny size (so it cannot rot)."""
import json

import pytest
import torch
from helpers import load_benchmark, random_mlstm_cell

from sentiment_neuron.models.fused_mlstm import recurrence_for, use_recurrence
from sentiment_neuron.models.mlstm import MLSTM


@pytest.mark.parametrize("return_cells", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_no_grad_path_equals_autograd_path_fp32(return_cells, with_state):
    cell = random_mlstm_cell()
    x = torch.randn(9, 3, 6)
    state = (torch.randn(3, 24), torch.randn(3, 24)) if with_state else None
    with use_recurrence("loop"):
        ref_hs, (ref_h, ref_c), ref_cs = cell(x, state, return_cells)  # parameters need grad: autograd loop
    assert ref_hs.requires_grad
    assert recurrence_for(x.device) == "fused"
    with torch.no_grad():
        hs, (h, c), cs = cell(x, state, return_cells)
    tol = dict(rtol=1e-5, atol=1e-6)  # float32 rounding only
    torch.testing.assert_close(hs, ref_hs.detach(), **tol)
    torch.testing.assert_close(h, ref_h.detach(), **tol)
    torch.testing.assert_close(c, ref_c.detach(), **tol)
    if return_cells:
        torch.testing.assert_close(cs, ref_cs.detach(), **tol)
        torch.testing.assert_close(cs[-1], c)
    else:
        assert cs is None
    if with_state:  # the caller's state is not modified in place
        assert not torch.equal(state[1], c)


def test_no_grad_path_bf16_close_to_autograd_path_and_returns_fresh_state():
    cell = random_mlstm_cell(hidden=32, embed=8)
    x = torch.randn(20, 4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with use_recurrence("loop"):
            ref_hs, (ref_h, ref_c), _ = cell(x)
        with torch.no_grad():
            hs, (h, c), _ = cell(x)
    assert hs.dtype == h.dtype == c.dtype == torch.float32
    assert (hs - ref_hs.detach()).abs().max() < 0.02
    assert (c - ref_c.detach()).abs().max() < 0.05
    assert h.data_ptr() != hs[-1].data_ptr()  # the final state is not a view of the outputs


def test_inference_mode_and_chunked_calls_match_one_call():
    cell = random_mlstm_cell()
    x = torch.randn(12, 2, 6)
    with torch.inference_mode():
        whole, _, _ = cell(x)
        first, state, _ = cell(x[:5])
        second, _, _ = cell(x[5:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)


def test_benchmark_measures_tiny_sizes(tmp_path):
    bench = load_benchmark("mlstm_throughput")
    for impl in bench.IMPLS:
        for mode in bench.MODES:
            rec = bench.measure(impl, mode, hidden=32, batch=4, steps=5, min_time=0.0, min_repeats=1,
                                matmul_flops=1e9)
            assert rec["chars_per_s"] > 0
            assert rec["fraction_of_matmul"] > 0
            assert {"impl", "mode", "precision", "hidden_size", "batch_size"} <= rec.keys()
    out = tmp_path / "bench.json"
    result = bench.main(["--quick", "--hidden-sizes", "16", "--batch-sizes", "2", "--steps", "3",
                         "--min-time", "0", "--matmul-size", "64", "--out", str(out)])
    records = json.loads(out.read_text())["records"]
    assert len(records) == len(result["records"]) == 8  # 4 impls x 2 modes
    assert {r["impl"] for r in records} == {"mlstm", "naive_mlstm", "torch_lstm", "transformer"}


def test_benchmark_forces_each_cpu_layout_and_records_the_one_that_ran():
    bench = load_benchmark("mlstm_throughput")
    ran = {}
    for impl in ("mlstm_rows", "mlstm_columns", "mlstm"):
        for mode in bench.MODES:
            rec = bench.measure(impl, mode, hidden=32, batch=4, steps=5, precision="fp32", min_time=0.0,
                                min_repeats=1)
            ran[impl, mode] = (rec["recurrence"], rec["cpu_layout"])
    bf16 = bench.measure("mlstm", "featurize", hidden=32, batch=4, steps=5, precision="bf16", min_time=0.0,
                         min_repeats=1)
    assert ran["mlstm_rows", "train"] == ran["mlstm_rows", "featurize"] == ("fused", "rows")
    assert ran["mlstm_columns", "train"] == ran["mlstm_columns", "featurize"] == ("fused", "columns")
    assert ran["mlstm", "featurize"] == ("fused", "columns")  # "auto": columns without autograd
    assert ran["mlstm", "train"] == ("fused", "rows")  # 32 units: below COLUMNS_TRAIN_FROM
    assert (bf16["recurrence"], bf16["cpu_layout"]) == ("fused", "rows")  # bf16 products: rows
    assert bench.fused_mlstm._cpu_layout_requested.get() == "auto"  # the forced layout is undone


def test_naive_baseline_matches_our_mlstm():
    bench = load_benchmark("mlstm_throughput")
    torch.manual_seed(0)
    ours = MLSTM(6, 16)
    naive = bench.NaiveMLSTM(6, 16)
    naive.load_state_dict(ours.state_dict())
    x = torch.randn(7, 3, 6)
    with torch.no_grad():
        torch.testing.assert_close(naive(x)[0], ours(x)[0], rtol=1e-5, atol=1e-6)
