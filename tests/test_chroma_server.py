"""The same engine against a real `chroma run` server on 127.0.0.1 (CHROMA_HOST set)."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO, make_engine
from tests.servers import ChromaServer


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    yield server.port
    server.stop()


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
