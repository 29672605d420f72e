"""The Transformer LM: generation with its key/value cache is the full forward pass, step by step."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_neuron.models.transformer import Transformer, TransformerConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm():
    torch.manual_seed(0)
    return Transformer(TransformerConfig(vocab_size=300, d_model=32, n_layers=3, n_heads=4)).eval()


def test_step_by_step_with_the_cache_equals_the_full_pass(lm):
    ids = torch.randint(0, 300, (3, 17))
    with torch.no_grad():
        full, _ = lm(ids)
        cache, steps = None, []
        for t in range(ids.shape[1]):
            logits, cache = lm(ids[:, t:t + 1], cache)
            steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    assert cache[0][0].shape == (3, 4, 17, 8)


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(1, 8), min_size=1, max_size=4))
def test_any_chunking_with_the_cache_equals_the_full_pass(lm, cuts):
    torch.manual_seed(len(cuts))
    ids = torch.randint(0, 300, (2, sum(cuts)))
    with torch.no_grad():
        full, _, states = lm(ids, return_states=True)
        cache, chunks, start = None, [], 0
        for n in cuts:
            logits, cache = lm(ids[:, start:start + n], cache)
            chunks.append(logits)
            start += n
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, atol=1e-5, rtol=0)
    assert len(states) == 4
    assert all(s.shape == (2, sum(cuts), 32) for s in states)


def test_attention_is_causal(lm):
    ids = torch.randint(0, 300, (1, 12))
    changed = ids.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 300
    with torch.no_grad():
        a, _ = lm(ids)
        b, _ = lm(changed)
    torch.testing.assert_close(a[:, :8], b[:, :8])  # the future does not reach the past
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_the_output_layer_is_the_embedding_and_it_learns(lm):
    torch.manual_seed(1)
    model = Transformer(TransformerConfig(vocab_size=50, d_model=16, n_layers=1, n_heads=2))
    ids = torch.arange(40).remainder(5)[None].repeat(4, 1)  # 0 1 2 3 4 0 1 ...: predictable
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        logits, _ = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 50), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2  # from ln 50 = 3.9: every token but the first is determined
    names = [n for n, _ in model.named_parameters()]
    assert not any("decoder" in n or "lm_head" in n for n in names)  # tied: no separate output matrix


@pytest.mark.parametrize("kwargs, match", [({"d_model": 30, "n_heads": 4}, "heads of an even size"),
                                           ({"d_model": 12, "n_heads": 4}, "heads of an even size"),
                                           ({"n_layers": 0}, "n_layers must be positive"),
                                           ({"dropout": 1.0}, "dropout")])
def test_config_refuses_sizes_that_do_not_fit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerConfig(**kwargs)
