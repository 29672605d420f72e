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
def test_the_intervention_is_what_the_logits_read(rnn):
    model = MODELS[rnn]
    with torch.no_grad():
        hs, state, _ = model.encode(torch.randint(0, 256, (5, 3)))
        plain, _ = model.intervene(hs, state)
        h, new_state = model.intervene(hs, state, lambda top: top + 1.0)
        assert torch.allclose(h, plain + 1.0, atol=1e-6)
        if model.output_in_state:  # the next step reads the edited state
            after, _, _ = model.encode(torch.tensor([[7, 7, 7]]), new_state)
            before, _, _ = model.encode(torch.tensor([[7, 7, 7]]), state)
            assert not torch.allclose(after, before)


@pytest.mark.parametrize("rnn", RNN_TYPES)
def test_every_architecture_reads_any_vocabulary(rnn):
    model = _model(rnn, vocab_size=300)
    logits, _ = model(torch.tensor([[299], [0]]))
    assert logits.shape == (2, 1, 300)
