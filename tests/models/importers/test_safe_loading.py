"""A checkpoint that would run code on load is refused, and nothing runs."""
import pickle

import pytest
import torch
from published_layouts import Evil, nvidia_checkpoint

from sentiment_neuron.models.importers import import_nvidia, load_checkpoint
from sentiment_neuron.models.importers.safeload import flatten


def _payload(marker):
    return f"open({str(marker)!r}, 'w').write('ran')"


def test_the_crafted_pickle_really_runs_code_when_unpickled(tmp_path):
    """The fixture is a real attack: plain pickle.loads runs it (so the refusal below means something)."""
    marker = tmp_path / "ran-plain"
    pickle.loads(pickle.dumps(Evil(_payload(marker))))
    assert marker.read_text() == "ran"


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("fmt", ["zip", "legacy", "raw-pickle-2", "raw-pickle"])
def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path, fmt):
    marker = tmp_path / "ran"
    evil = {"encoder": {"rnn": {"rnns.0.w_ih_v": torch.zeros(2)}}, "x": Evil(_payload(marker))}
    path = tmp_path / "evil.pt"
    if fmt.startswith("raw-pickle"):  # a plain pickle, in the protocol torch writes (2) or Python's default
        protocol = 2 if fmt == "raw-pickle-2" else pickle.DEFAULT_PROTOCOL
        path.write_bytes(pickle.dumps({"x": evil["x"]}, protocol=protocol))
    else:
        torch.save(evil, path, _use_new_zipfile_serialization=fmt == "zip")
    named = r"would call the Python object (builtins\.)?exec" if fmt != "raw-pickle" else "Unsupported operand"
    for load in (lambda: load_checkpoint(path), lambda: import_nvidia(path)):
        with pytest.raises(ValueError, match=rf"evil\.pt: refused: .*{named}"):
            load()
    with pytest.raises(ValueError, match="refused"):  # allowing Namespace allows nothing else
        load_checkpoint(path, allow_namespace=True)
    assert not marker.exists()


def test_unreadable_files_get_a_clear_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(ValueError, match=r"junk\.pt: not a PyTorch checkpoint"):
        load_checkpoint(junk)
    truncated = tmp_path / "cut.pt"
    torch.save(nvidia_checkpoint("lm-2018"), truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"cut\.pt: not a PyTorch checkpoint"):
        load_checkpoint(truncated)


def test_zip_checkpoints_are_memory_mapped_and_legacy_ones_read(tmp_path):
    checkpoint = nvidia_checkpoint("lm-2019")
    for legacy in (False, True):
        path = tmp_path / f"{legacy}.pt"
        torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
        loaded = flatten(load_checkpoint(path))
        assert torch.equal(loaded["decoder.weight"], checkpoint["decoder"]["weight"])
        assert "encoder.rnn.rnns.0.w_mhh_v" in loaded


def test_flatten_joins_nested_keys():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}
