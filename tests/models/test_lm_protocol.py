"""The language-model protocol every architecture implements (ByteLM over mLSTM, LSTM, GRU, Transformer):
step-by-step reading with the carried state (the recurrent state, or the key/value cache) is the full forward
pass, and the intervention point edits what the next token's logits read."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_neuron.models import RNN_TYPES, ByteLM, ModelConfig


def _model(rnn: str, vocab_size: int = 256) -> ByteLM:
    torch.manual_seed(0)
    width = 16
    layers = 1 if rnn == "mlstm" else 2
    config = ModelConfig(rnn=rnn, hidden_size=width, embed_size=width, num_layers=layers, num_heads=2,
                         vocab_size=vocab_size)
    return ByteLM(config).eval()


MODELS = {rnn: _model(rnn) for rnn in RNN_TYPES}


@pytest.mark.parametrize("rnn", RNN_TYPES)
@settings(max_examples=10, deadline=None)
@given(ids=st.lists(st.integers(0, 255), min_size=1, max_size=40), cut=st.integers(1, 8))
def test_steps_with_the_carried_state_equal_one_pass(rnn, ids, cut):
    model = MODELS[rnn]
    tokens = torch.tensor(ids)[:, None].expand(-1, 2).contiguous()  # (T, 2)
    with torch.no_grad():
        whole, _ = model(tokens)
        state, pieces = None, []
        for t0 in range(0, len(ids), cut):
            logits, state = model(tokens[t0 : t0 + cut], state)
            pieces.append(logits)
    assert torch.allclose(whole, torch.cat(pieces), atol=1e-5)


@pytest.mark.parametrize("rnn", RNN_TYPES)
def test_step_reads_as_one_pass_and_the_edit_is_what_the_logits_read(rnn):
    model = MODELS[rnn]
    ids = torch.randint(0, 256, (5, 3))
    with torch.no_grad():
        logits, _ = model(ids)
        read, last, state = model.step(ids)
        assert torch.allclose(last, logits[-1], atol=1e-5)
        hs, _, _ = model.encode(ids)
        assert torch.allclose(read, hs[-1], atol=1e-5)
        edited, pushed, new_state = model.step(ids, edit=lambda top: top + 1.0)
        assert torch.allclose(edited, read + 1.0, atol=1e-5)
        if model.output_in_state or model.config.feature_layer is None:  # the logits read the edited top
            assert torch.allclose(pushed, model.decoder(read + 1.0), atol=1e-4)
        if model.output_in_state:  # and the next step reads the edited state
            after, _, _ = model.step(torch.tensor([[7, 7, 7]]), new_state)
            before, _, _ = model.step(torch.tensor([[7, 7, 7]]), state)
            assert not torch.allclose(after, before)


def test_a_transformer_reads_and_steers_at_its_feature_layer():
    """feature_layer: features read that block's output, and an edit there reaches the blocks above (the logits
    change) and, through the cache those blocks fill, the next step."""
    model = _model("transformer")
    model.config.feature_layer = 0
    ids = torch.randint(0, 256, (6, 2))
    with torch.no_grad():
        hs, state, _ = model.encode(ids)
        embedded = model.rnn.in_proj(model.embed(ids).transpose(0, 1))
        first, _ = model.rnn.blocks[0](embedded, None)
        assert torch.allclose(hs, first.transpose(0, 1), atol=1e-5)  # block 0's residual stream
        read, plain, state = model.step(ids)
        edited, pushed, pushed_state = model.step(ids, edit=lambda top: top + 3.0)
        assert torch.allclose(edited, read + 3.0, atol=1e-5) and not torch.allclose(plain, pushed)
        _, after, _ = model.step(torch.tensor([[7, 7]]), pushed_state)
        _, before, _ = model.step(torch.tensor([[7, 7]]), state)
        assert not torch.allclose(after, before)
    model.config.feature_layer = None


def test_feature_layer_is_a_transformer_block():
    with pytest.raises(ValueError, match="feature_layer"):
        ModelConfig(rnn="mlstm", feature_layer=0)
    with pytest.raises(ValueError, match="feature_layer"):
        ModelConfig(rnn="transformer", hidden_size=16, embed_size=16, num_layers=2, num_heads=2, feature_layer=2)


@pytest.mark.parametrize("rnn", RNN_TYPES)
def test_every_architecture_reads_any_vocabulary(rnn):
    model = _model(rnn, vocab_size=300)
    logits, _ = model(torch.tensor([[299], [0]]))
    assert logits.shape == (2, 1, 300)
