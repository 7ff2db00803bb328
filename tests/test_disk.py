"""Faults of the disk and of sharing it: a full disk, Chroma files left unreadable, a second
process on the embedded store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from index.engine import Engine
from index.errors import IndexInUse
from index.settings import IndexSettings
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"


def _corpus(path: Path, n: int, words: int = 90) -> Path:
    """n distinct articles of three one-sentence paragraphs, written by the test (long sentences
    keep the sentence splitter's work small)."""
    with path.open("w") as f:
        for i in range(n):
            paras = [f"Story{i} paragraph{j} " + " ".join(f"word{k} harbour{k % 7}" for k in
                                                          range(words // 2)) + "."
                     for j in range(3)]
            f.write(json.dumps({"id": f"a{i}", "title": f"Report number {i}",
                                "text": "\n\n".join(paras), "publisher": "Test Wire",
                                "url": f"https://example.org/{i}"}) + "\n")
    return path


def _open(data: Path) -> Engine:
    return Engine.from_settings(IndexSettings(data_dir=data), embedder=FakeEmbedder(),
                                ranker=None)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests._cli_child", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_unreadable_chroma_files_are_rebuilt_from_sqlite(tmp_path):
    data = tmp_path / "data"
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(data)}
    env.pop("CHROMA_HOST", None)
    added = _cli(env, "index", "add", str(_corpus(tmp_path / "c.jsonl", 400)), "--json")
    passages = json.loads(added.stdout)["embedded"]
    # what a full disk left behind: Chroma's HNSW metadata and links emptied
    emptied = [p for name in ("index_metadata.pickle", "link_lists.bin")
               for p in (data / "chroma").glob(f"*/{name}")]
    assert emptied, "Chroma did not persist an HNSW index; the test would test nothing"
    for p in emptied:
        p.write_bytes(b"")
    found = _cli(env, "search", "Story17 paragraph1", "--json")
    assert found.returncode == 0, found.stderr
    warned = found.stderr.strip().splitlines()
    assert len(warned) == 1 and "could not be read" in warned[0], found.stderr
    assert str(data / "chroma") in warned[0] and f"{passages} passages" in warned[0]
    assert json.loads(found.stdout)["results"][0]["article_id"] == "a17"
    # rebuilt for good: the next process opens it without a word
    again = _cli(env, "search", "Story17 paragraph1", "--json")
    assert again.returncode == 0 and again.stderr == ""


def test_a_second_process_on_the_embedded_store_is_refused(tmp_path):
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(tmp_path / "data")}
    env.pop("CHROMA_HOST", None)
    child = [sys.executable, "-m", "tests._cli_child"]
    subprocess.run([*child, "index", "add", str(DEMO / "articles.jsonl"), "--name", "demo"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    holder = subprocess.Popen([*child, "shell"], env=env, cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout is not None and "Type a question" in holder.stdout.readline()
        second = subprocess.run([*child, "index", "refresh"], env=env, cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {holder.pid}" in lines[0] and "CHROMA_HOST" in lines[0]
    finally:
        holder.communicate("quit\n", timeout=60)
    again = subprocess.run([*child, "index", "list", "--json"], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and json.loads(again.stdout.splitlines()[0])["name"] == "demo"


def test_the_same_process_cannot_open_the_embedded_store_twice(tmp_path):
    first = _open(tmp_path / "data")
    try:
        with pytest.raises(IndexInUse, match="CHROMA_HOST"):
            _open(tmp_path / "data")
    finally:
        first.close()
    _open(tmp_path / "data").close()  # released on close


DISK_FULL = """
set -e
mount -t tmpfs -o size=16m tmpfs "$MNT"
export NEWSBOT_DATA_DIR="$MNT/data"
run() { "$PY" -m tests._cli_child "$@"; }
run index add "$DEMO" --name demo --json > "$OUT/add1.json"
avail=$(df --output=avail -B1 "$MNT" | tail -1)
head -c $((avail - 400000)) /dev/zero > "$MNT/filler"
set +e
run index add "$BIG" --name big --json > "$OUT/add2.json" 2> "$OUT/add2.err"
echo $? > "$OUT/add2.rc"
set -e
rm "$MNT/filler"
run index list --json > "$OUT/list.json"
run ask "Who won the Coastal Cup?" --json > "$OUT/ask.json" 2> "$OUT/ask.err"
run index refresh big --json > "$OUT/add3.json" 2> "$OUT/add3.err" || true
"""


def test_a_full_disk_ends_in_one_line_and_loses_nothing(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small tmpfs")
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs "
                            f"{tmp_path}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()[:120]}")
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    env = {**os.environ, "MNT": str(mnt), "OUT": str(out), "PY": sys.executable,
           "DEMO": str(DEMO / "articles.jsonl"),
           "BIG": str(_corpus(tmp_path / "big.jsonl", 300))}
    env.pop("CHROMA_HOST", None)
    subprocess.run(["unshare", "-rm", "bash", "-c", textwrap.dedent(DISK_FULL)], env=env,
                   cwd=ROOT, check=True, timeout=300)
    # the add that ran out of space: exit 1, one line naming the data directory
    assert (out / "add2.rc").read_text().strip() == "1"
    err = (out / "add2.err").read_text().strip().splitlines()
    assert len(err) == 1 and "disk full" in err[0] and f"{mnt}/data" in err[0], err
    # the previous index is whole and still answers
    listed = {s["name"]: s for s in map(json.loads, (out / "list.json").read_text().splitlines())}
    assert listed["demo"]["articles"] == 8 and listed["demo"]["passages"] == 16
    assert "disk full" in (listed["big"]["last_error"] or "")
    ask = json.loads((out / "ask.json").read_text())
    assert not ask["abstained"] and "Coastal Cup" in ask["quotes"][0]["text"]
    # with space again, the same source indexes completely
    done = json.loads((out / "add3.json").read_text().splitlines()[0])
    assert done["error"] is None and done["articles"] == 300, (out / "add3.err").read_text()
