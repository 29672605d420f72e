"""The GPU window's script end to end on CPU with a tiny model: pack the corpus (within a budget,
never IMDB's test reviews), unpack it into the same prepared corpus prepare-corpus makes, start
pretraining detached (setsid) with scripts/gpu_flagship.sh, watch it finish, fetch the fp16 weights
in pieces over several "commands", reassemble them with their sha256 checked, and load the model."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import one_thread_env

from sentiment_neuron.data.prepared import load_prepared_corpus, prepare_corpus
from sentiment_neuron.data.readers import iter_texts
from sentiment_neuron.data.registry import load_dataset
from sentiment_neuron.models import load_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
EXTRA = "reviews_extra/reviews_extra-004.jsonl.xz"


def _env(**extra) -> dict:
    return one_thread_env(**{"PYTHONPATH": ROOT / "src", "PYTHON": sys.executable, **extra})


def _run(args, env, check=True, timeout=120):
    run = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and run.returncode != 0:
        raise AssertionError(f"{args} exited {run.returncode}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


@pytest.fixture(scope="module")
def pack(tmp_path_factory, data_dir):
    if not (data_dir / EXTRA).is_file():
        pytest.skip(f"{data_dir / EXTRA} not found")
    folder = tmp_path_factory.mktemp("gpu") / "pack"
    run = _run([sys.executable, str(SCRIPTS / "gpu_pack.py"), "pack", "--out", str(folder), "--dataset", "sst2:train",
                "--extra", str(data_dir / EXTRA), "--budget-mib", "0.32", "--block-mib", "0.25", "--quiet"],
               _env(SENTIMENT_NEURON_DATA=data_dir))
    return folder, run.stdout


def test_the_pack_keeps_to_its_budget_and_unpacks_to_the_corpus_prepare_corpus_makes(pack, data_dir, tmp_path):
    folder, _ = pack
    meta = json.loads((folder / "pack.json").read_text())
    on_disk = sum(p.stat().st_size for p in folder.iterdir() if p.name != "pack.json")
    assert on_disk == meta["compressed_bytes"] <= meta["budget_bytes"] == int(0.32 * 2**20)
    sst, extra = meta["sources"]
    assert sst == {"source": "sst2:train", "documents": 6920, "bytes": sst["bytes"], "complete": True}
    assert 0 < extra["documents"] < 5000
    assert not extra["complete"]  # cut by the budget, at a document boundary

    _run([sys.executable, str(SCRIPTS / "gpu_pack.py"), "unpack", "--pack", str(folder), "--out",
          str(tmp_path / "corpus"), "--quiet"], _env())
    texts = load_dataset("sst2", "train", data_dir).texts + [
        t for _, t in zip(range(extra["documents"]), iter_texts(data_dir / EXTRA, text_key="text"))]
    reference = prepare_corpus(texts, tmp_path / "reference", quiet=True)
    unpacked = load_prepared_corpus(tmp_path / "corpus", verify=True)
    assert unpacked.fingerprint() == reference["fingerprint"]
    assert unpacked.train_documents + unpacked.validation_documents == meta["documents"]


def test_imdb_test_reviews_never_travel(tmp_path):
    run = _run([sys.executable, str(SCRIPTS / "gpu_pack.py"), "pack", "--out", str(tmp_path / "p"),
                "--dataset", "imdb:unsup", "imdb:test"], _env(), check=False)
    assert run.returncode != 0
    assert "IMDB's test reviews never go into a pretraining corpus" in run.stderr
    assert not (tmp_path / "p" / "pack.json").exists()


def test_the_window_script_end_to_end_on_cpu(pack, tmp_path):
    folder, _ = pack
    out = tmp_path / "out"
    env = _env(PACK=folder, CORPUS=tmp_path / "corpus", RUN=tmp_path / "run", EXPORT=tmp_path / "export",
               OUT=out, SKIP_CHECKS=1, DEVICE="cpu", PRECISION="fp32", HIDDEN=16, EMBED=8, BATCH=4, SEQ=32,
               MAX_STEPS=40, MINUTES=5, EVAL_EVERY=20, EVAL_STREAMS=4, CKPT_EVERY=20, WARMUP=5,
               WATCH_SECONDS=90, WATCH_EVERY=1, PIECE_BYTES=8192, FETCH_FILES=5)
    script = str(SCRIPTS / "gpu_flagship.sh")
    started = _run(["bash", script, "start"], env, timeout=60)
    assert "trainer started" in started.stdout
    pid = int((tmp_path / "run" / "train.pid").read_text())
    try:
        # the trainer is not a child of the script's process group: it has its own session
        assert os.getsid(pid) == pid or not _alive(pid)
        watched = _run(["bash", script, "watch"], env, timeout=150)
    finally:
        if _alive(pid):  # a failed test leaves nothing running
            os.kill(pid, signal.SIGKILL)
    assert "trainer not running" in watched.stdout
    assert "step      40" in watched.stdout
    assert " done: 40 steps" in (tmp_path / "run" / "train.log").read_text()

    fetched, rounds = [], 0
    while True:  # each round is one command whose $OUT comes back
        rounds += 1
        target = out / f"round{rounds}"
        run = _run(["bash", script, "fetch"], {**env, "OUT": str(target)}, check=False)
        assert run.returncode in (0, 3), run.stderr
        assert len(list(target.iterdir())) <= 5
        assert all(p.stat().st_size <= 8192 for p in target.glob("*.part-*"))
        fetched.append(target)
        if run.returncode == 0:
            break
    manifest = json.loads((fetched[0] / "manifest.json").read_text())
    assert rounds >= 2
    assert len(manifest["pieces"]) >= 3
    assert manifest["step"] == 40

    first = [str(p) for p in fetched[:-1]]
    missing = _run([sys.executable, str(SCRIPTS / "gpu_flagship.py"), "reassemble", "--from", *first,
                    "--out", str(tmp_path / "model")], env, check=False)
    assert missing.returncode != 0
    assert "missing pieces" in missing.stderr
    bad = fetched[0] / manifest["pieces"][0]["file"]
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[:-1] + bytes([good_bytes[-1] ^ 1]))
    damaged = _run([sys.executable, str(SCRIPTS / "gpu_flagship.py"), "reassemble", "--from",
                    *map(str, fetched), "--out", str(tmp_path / "model")], env, check=False)
    assert damaged.returncode != 0
    assert "sha256 differs" in damaged.stderr
    bad.write_bytes(good_bytes)
    _run([sys.executable, str(SCRIPTS / "gpu_flagship.py"), "reassemble", "--from", *map(str, fetched),
          "--out", str(tmp_path / "model")], env)

    back, trained = load_model(tmp_path / "model"), load_model(tmp_path / "run")
    assert back.config.provenance["steps"] == 40
    assert back.hidden_size == 16
    for (name, a), b in zip(trained.state_dict().items(), back.state_dict().values()):
        torch.testing.assert_close(b, a.half().float(), rtol=0, atol=0, msg=name)  # fp16, exactly
    assert np.isfinite(back.config.provenance["validation_bpc"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().split(") ")[-1].startswith("Z"))
