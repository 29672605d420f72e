"""precision.py: "auto" resolves by the hardware; every command takes --precision."""
import pytest
import torch

from sentiment_neuron import precision
from sentiment_neuron.cli import build_parser
from sentiment_neuron.precision import describe_precision, native_bf16, resolve_precision


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Pretend this CPU does (True) or does not (False) compute bf16 natively."""
    def pretend(native: bool) -> None:
        monkeypatch.setattr(precision, "_cpu_native_bf16", lambda: native)
    return pretend


def test_auto_is_fp32_where_bf16_is_emulated(cpu_bf16):
    cpu_bf16(False)
    assert not native_bf16("cpu")
    assert resolve_precision("auto", "cpu") == "fp32"
    assert "not native" in describe_precision("auto", "cpu")


@pytest.mark.parametrize("native, expected", [(False, torch.float32), (True, torch.bfloat16)])
def test_the_product_dtype_follows_the_resolved_precision(cpu_bf16, native, expected):
    cpu_bf16(native)
    assert precision.product_dtype("auto", "cpu") == expected
    assert precision.product_dtype("fp32") == torch.float32
    assert precision.product_dtype("bf16") == torch.bfloat16
    assert precision.product_dtype("fp16", "cpu") == torch.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.product_dtype("fp8")


def test_auto_is_bf16_where_bf16_is_native(cpu_bf16):
    cpu_bf16(True)
    assert resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert describe_precision("auto", "cpu") == "precision: bf16 (auto: bf16 is native on this CPU)"


@pytest.mark.parametrize("supported,expected", [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_asks_the_gpu(monkeypatch, supported, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    assert resolve_precision("auto", "cuda") == expected


@pytest.mark.parametrize("requested", ["fp32", "bf16", "fp16"])
def test_explicit_precisions_are_kept(cpu_bf16, requested):
    cpu_bf16(False)  # an explicit bf16 on an emulating CPU is slow but allowed
    assert resolve_precision(requested, "cpu") == requested


def test_unknown_or_disallowed_precision_is_refused():
    with pytest.raises(ValueError, match="fp8"):
        resolve_precision("fp8", "cpu")
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", "cpu", allowed=precision.PRECISIONS)


def test_real_capability_matches_onednn():
    assert native_bf16("cpu") == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


MODEL_COMMANDS = {
    "featurize": ["--model", "m", "--input", "x.csv", "--out", "f.npy"],
    "transfer": ["--model", "m", "--dataset", "sst2", "--out", "o"],
    "data-efficiency": ["--model", "m", "--dataset", "sst2", "--out", "o"],
    "cross-domain": ["--model", "m", "--out", "o"],
    "classify": ["--model", "m", "--transfer", "t", "--input", "x.csv"],
    "heatmap": ["--model", "m", "--unit", "0", "--text", "hi", "--out", "h"],
    "generate": ["--model", "m"],
    "word-vectors": ["--model", "m", "--dataset", "sst2", "--out", "o"],
    "demo": [],
    "pretrain": ["--dataset", "imdb", "--out", "o"],
}


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_every_model_command_defaults_to_auto_and_accepts_each_precision(command):
    parser = build_parser()
    assert parser.parse_args([command, *MODEL_COMMANDS[command]]).precision == "auto"
    for choice in ("fp32", "bf16"):
        assert parser.parse_args([command, *MODEL_COMMANDS[command], "--precision", choice]).precision == choice
    with pytest.raises(SystemExit):
        parser.parse_args([command, *MODEL_COMMANDS[command], "--precision", "fp8"])
