"""`download` verifies: size and digest (SHA-256 or git blob SHA-1) of every fetched file, a file that
fails kept aside and never installed, a warning where no digest is public. No network: files are
served from file:// URLs or an HTTP server on 127.0.0.1."""
import hashlib
import http.server
import shutil
import subprocess
import threading

import pytest
import torch
from published_layouts import nvidia_checkpoint

from sentiment_neuron.models.importers import PUBLISHED, fetch_published
from sentiment_neuron.models.importers.published import (
    DIGEST_KINDS, Published, PublishedFile, UnverifiedFileWarning, file_digests, git_blob_sha1, verify_file,
)

CONTENT = bytes(range(256)) * 40 + b"\0end"  # NUL bytes too: a blob id counts every byte


def blob_id(data: bytes) -> str:
    """Git's object id of a file's content, written out independently of the package."""
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


@pytest.fixture
def upstream(tmp_path):
    path = tmp_path / "upstream" / "weights.bin"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


def register(monkeypatch, *files: PublishedFile, kind: str = "nvidia") -> Published:
    entry = Published("tiny", kind, "a test entry", "https://example.org/tiny", files, 1, gate_order="ifgo")
    monkeypatch.setitem(PUBLISHED, entry.name, entry)
    return entry


def installed(cache):
    return cache / "published" / "tiny"


def rejected(cache, name="tiny.pt"):
    return cache / "published" / "rejected" / "tiny" / f"{name}.rejected"


def no_temp_files(folder) -> bool:
    return not list(folder.glob(".*.tmp")) if folder.exists() else True


# -- the digests

@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
@pytest.mark.parametrize("data", [b"", b"hello\n", CONTENT, bytes(range(256)) * 5000],
                         ids=["empty", "text", "nul", "1.2MiB"])
def test_git_blob_sha1_is_what_git_hash_object_prints(tmp_path, data):
    path = tmp_path / "f.bin"
    path.write_bytes(data)  # the last one spans two of the 1 MiB blocks read
    by_git = subprocess.run(["git", "hash-object", "--no-filters", str(path)], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert git_blob_sha1(path) == by_git == blob_id(data)


def test_file_digests_computes_every_kind_in_one_read_and_refuses_unknown_kinds(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(CONTENT)
    assert file_digests(path) == {"sha256": hashlib.sha256(CONTENT).hexdigest(), "git-blob-sha1": blob_id(CONTENT)}
    assert set(DIGEST_KINDS) == {"sha256", "git-blob-sha1"}
    with pytest.raises(ValueError, match="unknown digest kind.*md5.*known: sha256, git-blob-sha1"):
        file_digests(path, ("md5",))
    with pytest.raises(ValueError, match="sha256 digest 'ABC' is not 64 lowercase hex digits"):
        PublishedFile("x", "https://example.org/x", 1, sha256="ABC")


# -- the registry

def test_every_registered_file_has_a_size_and_a_digest_or_says_why_not():
    for entry in PUBLISHED.values():
        for item in entry.files:
            where = f"{entry.name}/{item.name}"
            assert item.size is not None or item.size_range is not None, where
            if item.size_range is not None:
                low, high = item.size_range
                assert 0 < low < entry.approx_mib * 2**20 < high, where
            assert item.digests or (item.unverifiable and len(item.unverifiable) > 40), where
    openai = PUBLISHED["openai-mlstm-4096"].files
    assert all(set(f.digests) == {"git-blob-sha1"} for f in openai)  # read from the public git tree
    assert len({f.git_blob_sha1 for f in openai}) == 15
    assert openai[0].git_blob_sha1 == "64046c2bfcc46b04001ecc72c523fa06ea49da26"
    assert all("/0032e4b87903713ad4242599f5dda2eb7b8c40fd/model/" in f.url for f in openai)  # the commit they're of
    nvidia = [f for e in PUBLISHED.values() if e.kind == "nvidia" for f in e.files]
    assert len(nvidia) == 6
    for f in nvidia:
        assert not f.digests
        assert "no checksum" in f.unverifiable


def test_the_4096_unit_checkpoints_tensor_bytes_fit_the_stated_size_range():
    """NVIDIA's 4096-unit fp32 file holds ~86.4 M float32 numbers (LM with weight norm + classifier)."""
    h, e, v = 4096, 64, 256
    numbers = v * e + 4 * h * (e + 1) + 4 * h * (h + 1) + 2 * 4 * h + h * (e + 1) + h * (h + 1) + v * (h + 1) + h + 1
    low, high = PUBLISHED["nvidia-mlstm-4096-sst"].files[0].size_range
    assert low < 4 * numbers < high
    low, high = PUBLISHED["nvidia-mlstm-4096-sst-fp16"].files[0].size_range
    assert low < 2 * numbers < high


# -- downloads

@pytest.mark.parametrize("kind", DIGEST_KINDS)
def test_a_correct_download_is_installed_atomically(cache, upstream, monkeypatch, kind):
    digest = {"sha256": hashlib.sha256(CONTENT).hexdigest(), "git-blob-sha1": blob_id(CONTENT)}[kind]
    register(monkeypatch, PublishedFile("tiny.pt", upstream.as_uri(), len(CONTENT), **{kind.replace("-", "_"): digest}))
    got = fetch_published("tiny")
    assert got == installed(cache) / "tiny.pt"
    assert got.read_bytes() == CONTENT
    assert no_temp_files(installed(cache))
    assert not (cache / "published" / "rejected").exists()
    upstream.unlink()
    assert fetch_published("tiny") == got  # the second time from the cache, checked again


def test_a_download_of_the_wrong_size_is_refused_and_kept_aside(cache, upstream, monkeypatch):
    register(monkeypatch, PublishedFile("tiny.pt", upstream.as_uri(), len(CONTENT) + 1, git_blob_sha1="0" * 40))
    with pytest.raises(ValueError) as err:
        fetch_published("tiny")
    message = str(err.value)
    assert f"{len(CONTENT):,} bytes, but tiny.pt of the published model is {len(CONTENT) + 1:,}" in message
    assert "download discarded" in message
    assert str(rejected(cache)) in message
    assert upstream.as_uri() in message
    assert not (installed(cache) / "tiny.pt").exists()
    assert no_temp_files(installed(cache))
    assert rejected(cache).read_bytes() == CONTENT


@pytest.mark.parametrize("kind", DIGEST_KINDS)
def test_a_download_with_the_wrong_digest_is_refused_and_kept_aside(cache, upstream, monkeypatch, kind):
    other = CONTENT[:-1] + b"!"  # same size, one byte differs
    expected = {"sha256": hashlib.sha256(other).hexdigest(), "git-blob-sha1": blob_id(other)}[kind]
    got = {"sha256": hashlib.sha256(CONTENT).hexdigest(), "git-blob-sha1": blob_id(CONTENT)}[kind]
    field = {kind.replace("-", "_"): expected}
    register(monkeypatch, PublishedFile("tiny.pt", upstream.as_uri(), len(CONTENT), **field))
    label = {"sha256": "SHA-256", "git-blob-sha1": "git blob SHA-1"}[kind]
    with pytest.raises(ValueError, match=f"{label} {got} is not the recorded {expected} of tiny.pt"):
        fetch_published("tiny")
    assert not (installed(cache) / "tiny.pt").exists()
    assert no_temp_files(installed(cache))
    assert rejected(cache).read_bytes() == CONTENT


def test_a_bad_file_of_a_folder_model_is_kept_aside_and_the_good_ones_stay(cache, tmp_path, monkeypatch):
    good, bad = tmp_path / "0.npy", tmp_path / "1.npy"
    good.write_bytes(b"good")
    bad.write_bytes(b"tampered")
    register(monkeypatch, PublishedFile("0.npy", good.as_uri(), 4, git_blob_sha1=blob_id(b"good")),
             PublishedFile("1.npy", bad.as_uri(), 8, git_blob_sha1=blob_id(b"original")), kind="openai")
    with pytest.raises(ValueError, match="1.npy"):
        fetch_published("tiny")
    assert (installed(cache) / "0.npy").read_bytes() == b"good"
    assert not (installed(cache) / "1.npy").exists()
    assert rejected(cache, "1.npy").read_bytes() == b"tampered"


def test_a_damaged_cached_copy_is_set_aside_and_downloaded_again(cache, upstream, monkeypatch):
    register(monkeypatch, PublishedFile("tiny.pt", upstream.as_uri(), len(CONTENT), git_blob_sha1=blob_id(CONTENT)))
    damaged = installed(cache) / "tiny.pt"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(CONTENT[:-1] + b"?")
    said = []
    assert fetch_published("tiny", log=said.append).read_bytes() == CONTENT
    assert rejected(cache).read_bytes() == CONTENT[:-1] + b"?"
    assert any("moved to" in line and "downloaded again" in line for line in said)


class _Server(http.server.BaseHTTPRequestHandler):
    """Serves CONTENT at /whole, and at /cut announces all of it but sends half and hangs up."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(CONTENT)))
        self.end_headers()
        self.wfile.write(CONTENT if self.path == "/whole" else CONTENT[: len(CONTENT) // 2])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_over_http_a_whole_file_is_installed_and_a_cut_transfer_refused(cache, server, monkeypatch):
    register(monkeypatch, PublishedFile("tiny.pt", f"{server}/cut", size=None, git_blob_sha1=blob_id(CONTENT)))
    with pytest.raises(ValueError, match=f"{len(CONTENT) // 2:,} bytes received, but the server announced "
                                         f"{len(CONTENT):,}; the connection was cut"):
        fetch_published("tiny", timeout=10)
    assert not (installed(cache) / "tiny.pt").exists()
    assert rejected(cache).read_bytes() == CONTENT[: len(CONTENT) // 2]
    register(monkeypatch, PublishedFile("tiny.pt", f"{server}/whole", len(CONTENT), git_blob_sha1=blob_id(CONTENT)))
    assert fetch_published("tiny", timeout=10).read_bytes() == CONTENT


# -- files with no public digest

def test_a_file_without_a_public_digest_is_checked_by_size_and_used_with_a_warning(cache, upstream, monkeypatch):
    reason = "its publisher gives a rounded size and no checksum"
    register(monkeypatch, PublishedFile("tiny.pt", upstream.as_uri(), size_range=(len(CONTENT) - 10, len(CONTENT)),
                                        unverifiable=reason))
    with pytest.warns(UnverifiedFileWarning, match=f"could not be verified: {reason}; only its size was checked. "
                                                   f"Its SHA-256 is {hashlib.sha256(CONTENT).hexdigest()}"):
        assert fetch_published("tiny").read_bytes() == CONTENT
    register(monkeypatch, PublishedFile("tiny.pt", upstream.as_uri(), size_range=(1, 10), unverifiable=reason))
    with pytest.raises(ValueError, match=f"{len(CONTENT):,} bytes, but tiny.pt of the published model is 1 to 10"):
        verify_file(upstream, PUBLISHED["tiny"].files[0])


def test_download_warns_on_stderr_that_an_nvidia_file_could_not_be_verified(tmp_path, cache, monkeypatch, capsys):
    from sentiment_neuron.cli import main

    path = tmp_path / "ama_sst.pt"
    torch.save(nvidia_checkpoint("release-2018"), path)
    size = path.stat().st_size
    register(monkeypatch, PublishedFile("tiny.pt", "https://example.org/tiny.pt", size_range=(size // 2, size * 2),
                                        unverifiable="NVIDIA published no checksum of it"))
    assert main(["download", "tiny", "--from", str(path), "--out", str(tmp_path / "m"), "--no-check",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {path}: could not be verified: NVIDIA published no checksum of it" in err
    assert hashlib.sha256(path.read_bytes()).hexdigest() in err
    assert (tmp_path / "m" / "config.json").is_file()
