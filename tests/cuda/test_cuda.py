"""On a CUDA device: the fused mLSTM window (Triton cells) against a float64 CPU reference and the
plain loop, no host sync inside a training step, no CPU-only op reached, pretraining with checkpoints
(CUDA RNG) and resume, featurization against the CPU, and the benchmark's CUDA path.

Skipped without CUDA. On the GPU machine: `scripts/gpu_flagship.sh test` (PYTHONPATH=src pytest tests/cuda).
"""
import dataclasses
import json

import pytest
import torch
from helpers import load_benchmark, random_mlstm_cell

from sentiment_neuron.data.corpus import TBPTTBatches, build_corpus
from sentiment_neuron.models import ByteLM, ModelConfig, mlstm
from sentiment_neuron.models.fused_mlstm import recurrence_for, triton_ready, use_recurrence
from sentiment_neuron.training.batches import DeviceBatches
from sentiment_neuron.training.checkpoints import load_latest_checkpoint
from sentiment_neuron.training.config import TrainConfig
from sentiment_neuron.training.pretrain import pretrain
from sentiment_neuron.training.step import make_optimizer, train_step

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda")


def _forward_backward(cell, x, state, kind, autocast_dtype=None):
    cell.zero_grad(set_to_none=True)
    with use_recurrence(kind), torch.autocast(x.device.type, dtype=autocast_dtype or torch.bfloat16,
                                              enabled=autocast_dtype is not None):
        hs, (h, c), cs = cell(x, state, return_cells=True)
    weights = torch.linspace(-1, 1, hs.shape[-1], device=x.device, dtype=hs.dtype)
    ((hs * weights).sum() + (cs ** 2).mean() + h.sum() + c.sum()).backward()
    return [t.detach().double().cpu() for t in (hs, cs, h, c)] + [p.grad.double().cpu() for p in cell.parameters()]


def test_triton_passes_its_self_check_and_auto_picks_it():
    assert triton_ready(CUDA), "the Triton cell failed its self-check (see the RuntimeWarning)"
    assert recurrence_for(CUDA) == "triton"


@pytest.mark.parametrize("kind", ["loop", "fused", "triton"])
def test_each_recurrence_on_cuda_matches_a_float64_cpu_reference(kind):
    cell = random_mlstm_cell(hidden=48, embed=8)
    x, state = torch.randn(20, 5, 8), (torch.randn(5, 48), torch.randn(5, 48))
    ref = _forward_backward(cell.double(), x.double(), tuple(s.double() for s in state), "loop")
    got = _forward_backward(cell.float().to(CUDA), x.to(CUDA), tuple(s.to(CUDA) for s in state), kind)
    for i, (a, b) in enumerate(zip(ref, got)):
        torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-4, msg=lambda m: f"{kind} output {i}: {m}")


def test_bf16_triton_window_is_close_to_the_loop():
    cell = random_mlstm_cell(hidden=256, embed=64).to(CUDA)
    x = torch.randn(64, 32, 64, device=CUDA)
    loop, fused = (_forward_backward(cell, x, None, kind, torch.bfloat16) for kind in ("loop", "triton"))
    assert (loop[0] - fused[0]).abs().max() < 0.05
    for a, b in zip(loop[4:], fused[4:]):  # weight gradients: the fused sums them in fp32
        assert (a - b).norm() <= 0.05 * a.norm() + 1e-4


def test_featurization_loop_never_reaches_a_cpu_only_op(monkeypatch):
    def cpu_only(*args, **kwargs):
        raise AssertionError("torch.ops.mkldnn reached on CUDA")

    monkeypatch.setattr(mlstm, "_onednn_products", cpu_only)
    cell = random_mlstm_cell(hidden=48, embed=8).to(CUDA)
    for kind in ("loop", "triton"):
        with torch.no_grad(), use_recurrence(kind), torch.autocast("cuda", dtype=torch.bfloat16):
            hs, _, _ = cell(torch.randn(7, 3, 8, device=CUDA))
        assert hs.is_cuda
        assert hs.dtype == torch.float32
        assert torch.isfinite(hs).all()


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_a_training_step_never_waits_for_the_gpu(precision):
    torch.manual_seed(0)
    model = ByteLM(ModelConfig(hidden_size=128, embed_size=16)).to(CUDA).train()
    # 128 x 32 = 4,096 bytes a step: past 3,072, where the embedding's backward sorts its indices
    cfg = TrainConfig(batch_size=128, seq_len=32, precision=precision, max_steps=10)
    optimizer = make_optimizer(model, cfg, CUDA)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    stream = torch.randint(0, 256, (40_000,), dtype=torch.uint8).numpy()
    batches = DeviceBatches(TBPTTBatches(stream, cfg.batch_size, cfg.seq_len), CUDA)
    state = None
    for step in range(2):  # warm-up: Triton compilation, cuBLAS handles, allocator
        x, y = batches[step]
        bpc, state = train_step(model, optimizer, scaler, x, y, state, cfg, 1e-3, 0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(2, 6):
            x, y = batches[step]
            bpc, state = train_step(model, optimizer, scaler, x, y, state, cfg, 1e-3, 0)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert bpc.is_cuda
    assert 0 < bpc.item() < 9
    cpu_x, cpu_y = TBPTTBatches(stream, cfg.batch_size, cfg.seq_len)[5]
    assert torch.equal(x.cpu(), cpu_x)
    assert torch.equal(y.cpu(), cpu_y)


@pytest.fixture(scope="module")
def corpus():
    """Made up here: the shared data folder does not travel to the GPU machine."""
    import random

    rng = random.Random(0)
    words = "a the film movie was is great good bad awful wonderful plot acting not very I it and but".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 60))).capitalize() + "." for _ in range(400)]
    return build_corpus(texts, validation_fraction=0.1)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_pretrain_on_cuda_checkpoints_the_cuda_rng_and_resumes(corpus, tmp_path, precision):
    config = TrainConfig(batch_size=8, seq_len=32, lr=5e-3, precision=precision, eval_every=5, eval_bytes=4096,
                         eval_streams=8, max_steps=6, checkpoint_every=3)
    tiny = ModelConfig(hidden_size=64, embed_size=8)
    _, state = pretrain(corpus, tmp_path, tiny, config, quiet=True, device="cuda")
    ckpt = load_latest_checkpoint(tmp_path)
    assert ckpt["cuda_rng"] is not None
    assert ckpt["train_config"]["precision"] == precision
    provenance = json.loads((tmp_path / "config.json").read_text())["provenance"]
    assert provenance["recurrence"] == "triton"
    assert provenance["device"].startswith("cuda")
    _, resumed = pretrain(corpus, tmp_path, None, dataclasses.replace(config, max_steps=8), resume=True,
                          quiet=True, device="cuda")
    assert resumed.step == 8
    assert 0 < resumed.validation_bpc < state.validation_bpc + 1


def test_featurization_on_cuda_matches_the_cpu():
    from sentiment_neuron.transfer.features import featurize_many

    torch.manual_seed(0)
    model = ByteLM(ModelConfig(hidden_size=64, embed_size=8)).eval()
    texts = ["A wonderful, moving film.", "Dull.", "x" * 700, "Not good at all, I am sorry to say."]
    specs = ["hidden-mean", "cell-last", "hidden-max"]
    cpu = featurize_many(model, texts, specs, precision="fp32", chunk_len=64, quiet=True)
    gpu = featurize_many(model.to(CUDA), texts, specs, precision="fp32", chunk_len=64, quiet=True)
    for spec in specs:
        torch.testing.assert_close(torch.from_numpy(gpu[spec]), torch.from_numpy(cpu[spec]), rtol=1e-4, atol=1e-5)


def test_the_benchmark_measures_on_cuda():
    bench = load_benchmark("mlstm_throughput")
    assert bench.measure_matmul(CUDA, "bf16", 2048) > 1e12
    for impl, expected in (("mlstm", "triton"), ("mlstm_loop", "loop"), ("torch_lstm", None)):
        rec = bench.measure(impl, "train", hidden=256, batch=64, steps=16, precision="bf16", device="cuda",
                            min_time=0.0, min_repeats=1, matmul_flops=1e14)
        assert rec["recurrence"] == expected
        assert rec["chars_per_s"] > 0
        assert rec["peak_memory_gib"] > 0
