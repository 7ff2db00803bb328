"""The same engine against a real `chroma run` server on 127.0.0.1 (CHROMA_HOST set)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO, make_engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        exe = Path(shutil.which("chroma") or "chroma")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([str(exe), "run", "--path", str(path), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("chroma run did not start")
        time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_index_and_answer_through_a_chroma_server(chroma_server, tmp_path, model):
    engine = make_engine(tmp_path / "a", model, chroma_host="127.0.0.1", chroma_port=chroma_server)
    assert type(engine.store.chroma).__name__ != "PersistentClient"
    report = engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    assert report.new == 8 and report.embedded > 0
    assert not (tmp_path / "a" / "chroma").exists(), "vectors went to a local Chroma"
    answer = engine.ask("How many flights did Schiphol cancel during Storm Ciara?")
    assert not answer.abstained
    assert "240" in answer.quotes[0].text
    assert answer.citations[0].article_id == "demo-storm-ciara-schiphol"
    again = engine.add_source(str(DEMO / "articles.jsonl"))
    assert again.embedded == 0
    assert engine.store.collection.count() == len(engine.store.all_passage_ids())
    engine.remove_source("demo")
    assert engine.store.collection.count() == 0
    engine.close()
