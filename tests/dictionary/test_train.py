"""Training a dictionary: streamed blocks, the held-out split, checkpoints and an exact resume."""
import pytest
import torch

from helpers import SMALL_DICTIONARY as SMALL
from sentiment_neuron.dictionary.activations import block_shuffle, iter_state_blocks
from sentiment_neuron.dictionary.train import DictionaryTrainConfig, default_lr, train_dictionary
from sentiment_neuron.models.encode import iter_chunks
from sentiment_neuron.text import pad_batch, preprocess
from sentiment_neuron.training.checkpoints import checkpoint_files


def test_blocks_hold_every_byte_state_of_their_texts(model, texts):
    block = next(iter_state_blocks(model, texts[:5], batch_texts=5, max_bytes=None, precision="fp32"))
    data = [preprocess(t, **model.config.preprocessing) for t in texts[:5]]
    assert len(block.states) == sum(map(len, data))
    # the state at (text 2, byte 7) is what one plain pass of that text gives
    tokens, lengths = pad_batch([data[2]])
    hs = torch.cat([h for _, h, _ in iter_chunks(model, tokens, lengths, precision="fp32")])
    row = int(((block.text_ids == 2) & (block.positions == 7)).nonzero()[0, 0])
    assert torch.allclose(block.states[row], hs[7, 0], atol=1e-5)
    assert block.data[2] == data[2]


def test_blocks_skip_and_cut(model, texts):
    blocks = list(iter_state_blocks(model, texts[:10], batch_texts=4, max_bytes=16, skip_blocks=1))
    assert [b.index for b in blocks] == [1, 2]
    assert int(blocks[0].text_ids.min()) == 4 and int(blocks[0].positions.max()) == 15


def test_block_shuffle_is_fixed_by_seed_and_block():
    assert torch.equal(block_shuffle(50, 3, 0), block_shuffle(50, 3, 0))
    assert not torch.equal(block_shuffle(50, 3, 0), block_shuffle(50, 4, 0))


def test_training_reduces_the_error_and_holds_out_the_first_texts(trained, texts):
    dictionary, held_out, out = trained
    assert held_out == texts[: SMALL["eval_texts"]]
    assert dictionary.training["positions"] >= SMALL["max_positions"]
    assert dictionary.training["final_fvu"] < 0.5
    assert checkpoint_files(out)


def test_resume_continues_exactly(model, texts, tmp_path):
    cfg = dict(SMALL, max_positions=4000)
    whole, _, _ = train_dictionary(model, lambda: iter(texts), tmp_path / "a", DictionaryTrainConfig(**cfg),
                                   quiet=True)
    train_dictionary(model, lambda: iter(texts), tmp_path / "b", DictionaryTrainConfig(**dict(cfg, max_positions=1500)),
                     quiet=True)
    # continue with the longer budget: the checkpoint's settings are kept except the budget given here
    ckpt_cfg = DictionaryTrainConfig(**cfg)
    resumed, record, _ = train_dictionary(model, lambda: iter(texts), tmp_path / "b", ckpt_cfg, resume=True,
                                          quiet=True)
    assert record["positions"] == _positions(whole, tmp_path / "a")
    for name, value in whole.state_dict().items():
        assert torch.allclose(value.float(), resumed.state_dict()[name].float(), atol=1e-6), name


def _positions(sae, out):
    return torch.load(checkpoint_files(out)[-1], weights_only=True)["positions"]


def test_resume_without_checkpoint_is_an_error(model, texts, tmp_path):
    with pytest.raises(FileNotFoundError):
        train_dictionary(model, lambda: iter(texts), tmp_path, DictionaryTrainConfig(**SMALL), resume=True)


def test_no_text_left_after_the_held_out_ones(model, texts, tmp_path):
    with pytest.raises(ValueError, match="held-out"):
        train_dictionary(model, lambda: iter(texts[:4]), tmp_path, DictionaryTrainConfig(**SMALL), quiet=True)


def test_default_lr_follows_gao_et_al():
    assert default_lr(2 ** 14) == pytest.approx(2e-4)
    assert default_lr(2 ** 12) == pytest.approx(4e-4)


@pytest.mark.parametrize("bad", [dict(state="gate"), dict(k=0), dict(max_minutes=0), dict(precision="fp8")])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        DictionaryTrainConfig(**bad)
