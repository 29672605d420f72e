"""The fused mLSTM window (models/fused_mlstm.py) against the plain loop, its reference: forward,
gradients (also float64 gradcheck), no-grad, carried state, autocast, selection; and the Triton
cell against the PyTorch cell in Triton's CPU interpreter (TRITON_INTERPRET=1)."""
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import one_thread_env, random_mlstm_cell

from sentiment_neuron.models import ByteLM, ModelConfig, fused_mlstm
from sentiment_neuron.models.mlstm import MLSTM
from sentiment_neuron.models.fused_mlstm import (
    RECURRENCE_ENV, ColumnCell, MLSTMWindow, TorchCell, recurrence_for, requested_recurrence, use_recurrence)


@pytest.fixture(params=["columns", "rows"])
def layout(request):
    """The window in columns (`ColumnCell`, the CPU's layout) and in rows (`TorchCell`, CUDA's)."""
    with fused_mlstm.use_cpu_layout(request.param):
        yield request.param


def _run(cell, x, state, kind, return_cells=False):
    with use_recurrence(kind):
        return cell(x, state, return_cells)


@pytest.mark.parametrize("return_cells", [False, True])
def test_fused_forward_and_gradients_match_the_loop_fp32(return_cells, layout):
    cell = random_mlstm_cell()
    x = torch.randn(11, 3, 6, requires_grad=True)
    state = (torch.randn(3, 24, requires_grad=True), torch.randn(3, 24, requires_grad=True))
    results = {}
    for kind in ("loop", "fused"):
        cell.zero_grad(set_to_none=True)
        x.grad = state[0].grad = state[1].grad = None
        hs, (h, c), cs = _run(cell, x, state, kind, return_cells)
        loss = (hs * torch.linspace(-1, 1, 24)).sum() + (h ** 2).sum() + c.sum()
        if return_cells:
            loss = loss + (cs * 0.3).sum()
        loss.backward()
        results[kind] = [hs, h, c, cs, x.grad, state[0].grad, state[1].grad,
                         *(p.grad for p in cell.parameters())]
    for i, (a, b) in enumerate(zip(results["loop"], results["fused"])):
        if a is None:
            assert b is None
            continue
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=lambda m: f"output {i}: {m}")


@pytest.mark.parametrize("window_cell", [TorchCell, ColumnCell])
def test_gradcheck_float64(window_cell):
    cell = random_mlstm_cell(hidden=8, embed=3, dtype=torch.float64)
    w_h, w_mh = cell.w_h.weight().detach(), cell.w_mh.weight().detach()
    shape = (lambda n: (n, 5, 2)) if window_cell.COLUMNS else (lambda n: (5, 2, n))  # (n, T, B) or (T, B, n)
    xz = torch.randn(*shape(32), dtype=torch.float64, requires_grad=True)
    xm = torch.randn(*shape(8), dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    w_h, w_mh = (w.clone().requires_grad_() for w in (w_h, w_mh))

    def window(xz, xm, h0, c0, w_h, w_mh):
        hs, cs, h, c = MLSTMWindow.apply(xz, xm, h0, c0, w_h, w_mh, window_cell, True)
        return hs, cs, h, c

    assert torch.autograd.gradcheck(window, (xz, xm, h0, c0, w_h, w_mh), eps=1e-6, atol=1e-6)


def test_no_grad_fused_matches_loop_and_leaves_the_state_alone(layout):
    cell = random_mlstm_cell()
    x = torch.randn(9, 4, 6)
    state = (torch.randn(4, 24), torch.randn(4, 24))
    before = [s.clone() for s in state]
    with torch.no_grad():
        ref_hs, (ref_h, ref_c), ref_cs = _run(cell, x, state, "loop", True)
        hs, (h, c), cs = _run(cell, x, state, "fused", True)
        hs2, (h2, c2), none = _run(cell, x, state, "fused", False)
    for got, want in ((hs, ref_hs), (h, ref_h), (c, ref_c), (cs, ref_cs), (hs2, ref_hs), (c2, ref_c)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert none is None
    assert h.data_ptr() != hs[-1].data_ptr()
    assert all(torch.equal(a, b) for a, b in zip(state, before))


def test_chunked_windows_carry_the_state(layout):
    cell = random_mlstm_cell()
    x = torch.randn(12, 2, 6)
    with torch.no_grad(), use_recurrence("fused"):
        whole, _, _ = cell(x)
        first, state, _ = cell(x[:5])
        second, _, _ = cell(x[5:], state)
        empty, (h, c), _ = cell(x[:0], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)
    assert empty.shape == (0, 2, 24)
    assert torch.equal(h, state[0])
    assert torch.equal(c, state[1])


def test_bf16_autocast_training_step_is_close_to_the_loop(layout):
    cell = random_mlstm_cell(hidden=32, embed=8)
    x = torch.randn(16, 4, 8)
    grads = {}
    for kind in ("loop", "fused"):
        cell.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16), use_recurrence(kind):
            hs, _, _ = cell(x)
        assert hs.dtype == torch.float32
        (hs.float() ** 2).mean().backward()
        grads[kind] = (hs.detach(), [p.grad.clone() for p in cell.parameters()])
    assert (grads["loop"][0] - grads["fused"][0]).abs().max() < 0.03
    for a, b in zip(grads["loop"][1], grads["fused"][1]):  # the fused sums weight gradients in fp32: closer to exact
        assert (a - b).norm() <= 0.05 * a.norm() + 1e-4


def test_a_bytelm_trains_the_same_through_both_recurrences(layout):
    torch.manual_seed(0)
    model = ByteLM(ModelConfig(hidden_size=16, embed_size=8))
    tokens = torch.randint(0, 256, (13, 3))
    losses = {}
    for kind in ("loop", "fused"):
        model.zero_grad(set_to_none=True)
        with use_recurrence(kind):
            logits, _ = model(tokens[:-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), tokens[1:].reshape(-1))
        loss.backward()
        losses[kind] = (loss.detach(), [p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(losses["fused"][0], losses["loop"][0])
    for a, b in zip(losses["loop"][1], losses["fused"][1]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_cpu_layout_columns_for_featurizing_and_for_training_large_models():
    assert fused_mlstm._cpu_layout_requested.get() == "auto"
    big, small = fused_mlstm.COLUMNS_TRAIN_FROM, fused_mlstm.COLUMNS_TRAIN_FROM - 1
    assert fused_mlstm.cpu_layout(autograd=False, hidden=small) == "columns"
    assert fused_mlstm.cpu_layout(autograd=True, hidden=small) == "rows"
    assert fused_mlstm.cpu_layout(autograd=True, hidden=big) == "columns"
    cpu = torch.device("cpu")
    assert fused_mlstm._cell_for("fused", cpu, True, big) is ColumnCell
    assert fused_mlstm._cell_for("fused", cpu, True, small) is TorchCell
    assert fused_mlstm._cell_for("fused", torch.device("meta"), False, big) is TorchCell  # off a CPU: rows


def test_cpu_layout_rows_wherever_the_products_are_bf16():
    big = 2 * fused_mlstm.COLUMNS_TRAIN_FROM
    for autograd in (False, True):
        assert fused_mlstm.cpu_layout(autograd, big, torch.bfloat16) == "rows"
        assert fused_mlstm.cpu_layout(autograd, big, torch.float32) == "columns"
        assert fused_mlstm._cell_for("fused", torch.device("cpu"), autograd, big, torch.bfloat16) is TorchCell
    with fused_mlstm.use_cpu_layout("columns"):  # forcing still wins (the benchmark and the tests use it)
        assert fused_mlstm.cpu_layout(True, big, torch.bfloat16) == "columns"


def test_a_bf16_featurization_runs_over_rows(monkeypatch):
    seen = []
    real = fused_mlstm._run_forward

    def spy(inputs, h0, c0, w_h, w_mh, cell, save, return_cells):
        seen.append((cell, w_h.dtype))
        return real(inputs, h0, c0, w_h, w_mh, cell, save, return_cells)

    monkeypatch.setattr(fused_mlstm, "_run_forward", spy)
    rnn = MLSTM(8, 16)
    x = torch.randn(5, 3, 8)
    with torch.no_grad(), use_recurrence("fused"):
        rnn(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rnn(x)
    assert seen == [(ColumnCell, torch.float32), (TorchCell, torch.bfloat16)]


def test_selection_is_automatic_by_device_with_an_override(monkeypatch):
    monkeypatch.delenv(RECURRENCE_ENV, raising=False)
    cpu = torch.device("cpu")
    assert requested_recurrence() == "auto"
    assert recurrence_for(cpu) == "fused"  # the window with the PyTorch cell
    with use_recurrence("loop"):
        assert recurrence_for(cpu) == "loop"
        with use_recurrence("fused"):
            assert recurrence_for(cpu) == "fused"
        assert recurrence_for(cpu) == "loop"
    monkeypatch.setenv(RECURRENCE_ENV, "loop")
    assert recurrence_for(cpu) == "loop"
    monkeypatch.setenv(RECURRENCE_ENV, "fast")
    with pytest.raises(ValueError, match="recurrence must be one of"):
        recurrence_for(cpu)
    with pytest.raises(ValueError, match="recurrence must be one of"):
        with use_recurrence("graph"):
            pass


INTERPRETER_CHECK = textwrap.dedent("""
    import torch
    from sentiment_neuron.models import fused_mlstm, triton_cell
    from sentiment_neuron.models.mlstm import MLSTM
    assert triton_cell.interpreted()
    # the self-check "auto" runs on CUDA before it trusts the kernels, here on CPU tensors
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 2e-2)):
        fused_mlstm._compare_cells(triton_cell, torch.device("cpu"), dtype, tol, rows=3, hidden=40)
    torch.manual_seed(0)
    cell = MLSTM(5, 20)
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x = torch.randn(6, 3, 5)
    state = (torch.randn(3, 20), torch.randn(3, 20))
    out = {}
    for kind in ("fused", "triton"):
        cell.zero_grad(set_to_none=True)
        with fused_mlstm.use_recurrence(kind):
            hs, (h, c), cs = cell(x, state, return_cells=True)
        (hs.sum() + (cs ** 2).sum() + h.sum() + c.sum()).backward()
        out[kind] = [hs, cs, h, c] + [p.grad for p in cell.parameters()]
    for a, b in zip(out["fused"], out["triton"]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    with torch.no_grad(), fused_mlstm.use_recurrence("triton"):
        hs2, _, _ = cell(x, state)
    torch.testing.assert_close(hs2, out["fused"][0].detach(), rtol=1e-4, atol=1e-5)
    grads = {}
    for kind in ("fused", "triton"):  # bf16 products, as on the GPU
        cell.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16), fused_mlstm.use_recurrence(kind):
            hs, _, _ = cell(x, state)
        (hs ** 2).sum().backward()
        grads[kind] = [hs.detach()] + [p.grad for p in cell.parameters()]
    for a, b in zip(grads["fused"], grads["triton"]):
        torch.testing.assert_close(b, a, rtol=2e-2, atol=2e-2)
    print("ok")
""")


def test_triton_cell_matches_the_torch_cell_in_the_interpreter():
    """Triton's interpreter must be switched on before the kernels are defined: a fresh process."""
    pytest.importorskip("triton", reason="Triton is not installed (pip install triton==3.6.0, the GPU's version)")
    run = subprocess.run([sys.executable, "-c", INTERPRETER_CHECK], env=one_thread_env(TRITON_INTERPRET=1),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("ok"), run.stderr[-3000:]
