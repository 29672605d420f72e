"""The registry of published models: offline message, size and checksum checks, local copies."""
import hashlib
import urllib.error
import urllib.request

import pytest
import torch
from published_layouts import nvidia_checkpoint, openai_arrays, write_openai

from sentiment_neuron.models.importers import PUBLISHED, fetch_published, published
from sentiment_neuron.models.importers.published import Published, PublishedFile


@pytest.fixture
def offline(monkeypatch):
    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def _entry(monkeypatch, path, url=None, sha256=None, size=None) -> Published:
    entry = Published("tiny-nvidia", "nvidia", "a test entry", "https://example.org/tiny",
                      (PublishedFile("tiny-nvidia.pt", url or "https://example.org/tiny.pt", size, sha256),), 1,
                      gate_order="ifgo", task="sst2")
    monkeypatch.setitem(PUBLISHED, entry.name, entry)
    return entry


def test_the_registry_knows_openais_files_and_their_sizes():
    entry = published("openai-mlstm-4096")
    assert [f.name for f in entry.files] == [f"{i}.npy" for i in range(15)]
    sizes = {f.name: f.size for f in entry.files}  # the blob sizes read in OpenAI's git tree
    assert (sizes["0.npy"], sizes["6.npy"], sizes["11.npy"], sizes["14.npy"]) == (65_616, 1_048_656, 16_464, 1_104)
    assert sum(sizes.values()) - 15 * 80 == 4 * 86_319_360  # every parameter, float32
    assert all(e.gate_order == "ifgo" for e in PUBLISHED.values() if e.kind == "nvidia")
    with pytest.raises(ValueError, match="no published model named 'gpt'; known: openai-mlstm-4096"):
        published("gpt")


def test_offline_says_so_and_how_to_proceed(cache, offline):
    with pytest.raises(FileNotFoundError) as err:
        fetch_published("openai-mlstm-4096")
    message = str(err.value)
    assert "could not be downloaded from https://raw.githubusercontent.com/openai/" in message
    assert "offline" in message
    assert "--from FOLDER" in message
    assert "name resolution" in message
    assert not (cache / "published" / "openai-mlstm-4096" / "0.npy").exists()


def test_a_local_file_is_checked_against_the_recorded_checksum(tmp_path, cache, offline, monkeypatch):
    path = tmp_path / "m.pt"
    torch.save(nvidia_checkpoint("release-2018"), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    _entry(monkeypatch, path, sha256=digest)
    assert fetch_published("tiny-nvidia", source=path) == path
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"SHA-256 [0-9a-f]{{64}} is not the recorded {digest}"):
        fetch_published("tiny-nvidia", source=path)


def test_a_local_folder_of_the_wrong_files_fails_the_size_check(tmp_path, cache):
    folder = write_openai(tmp_path / "model", openai_arrays())  # H = 64, not 4096
    with pytest.raises(ValueError, match=r"model/0\.npy: [\d,]+ bytes, but 0\.npy of the published model is 65,616"):
        fetch_published("openai-mlstm-4096", source=folder)
    with pytest.raises(FileNotFoundError, match=r"absent: no such file or folder \(--from\)"):
        fetch_published("openai-mlstm-4096", source=tmp_path / "absent")
    with pytest.raises(ValueError, match=r"has 15 files; give the folder"):
        fetch_published("openai-mlstm-4096", source=folder / "0.npy")


def test_a_download_is_checked_and_kept_in_the_cache_or_discarded(tmp_path, cache, monkeypatch):
    upstream = tmp_path / "upstream.pt"
    torch.save(nvidia_checkpoint("lm-2018"), upstream)
    digest = hashlib.sha256(upstream.read_bytes()).hexdigest()
    _entry(monkeypatch, upstream, url=upstream.as_uri(), sha256="0" * 64)
    with pytest.raises(ValueError, match="download discarded"):
        fetch_published("tiny-nvidia")
    dest = cache / "published" / "tiny-nvidia"
    assert not any(dest.iterdir()) if dest.exists() else True  # no partial or bad file left
    _entry(monkeypatch, upstream, url=upstream.as_uri(), sha256=digest, size=upstream.stat().st_size)
    got = fetch_published("tiny-nvidia")
    assert got == dest / "tiny-nvidia.pt"
    assert got.read_bytes() == upstream.read_bytes()
    assert fetch_published("tiny-nvidia") == got  # the second time from the cache


def test_a_web_page_instead_of_the_file_is_explained(tmp_path, cache, monkeypatch):
    page = tmp_path / "confirm.html"
    page.write_text("<html>Google Drive can't scan this file for viruses</html>")
    _entry(monkeypatch, page, url=page.as_uri())
    with pytest.raises(ValueError, match=r"answered with a web page.*download it in a browser.*--from FILE"):
        fetch_published("tiny-nvidia")
