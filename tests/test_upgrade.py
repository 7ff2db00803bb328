"""Data directories written by an older newsbot upgrade in place; dates in the future are
capped."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from index.errors import ConfigError
from index.store import SCHEMA_VERSION
from tests.conftest import make_engine
from tests.fakes import FakeEmbedder

FIXTURE = Path(__file__).parent / "fixtures" / "schema_v1"


def test_a_schema_1_directory_upgrades_in_place_with_a_backup(tmp_path):
    """The fixture is the demo corpus as newsbot at schema 1 (commit 8330dab) wrote it, with
    the test embedder; its Chroma folder is not kept: the upgrade rebuilds it from SQLite."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    engine = make_engine(data, FakeEmbedder())
    try:
        assert engine.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert (data / "newsbot.sqlite3.v1.bak").exists()
        with sqlite3.connect(data / "newsbot.sqlite3.v1.bak") as old:
            assert old.execute("PRAGMA user_version").fetchone()[0] == 1
        [demo] = engine.list_sources()
        assert (demo.name, demo.articles, demo.passages) == ("demo", 8, 16)
        assert demo.server is None  # sources from before scopes are global
        engine.reconcile()  # Chroma rebuilt from the vectors SQLite keeps
        assert engine.store.collection.count() == 16
        hit = engine.search("Schiphol flights Storm Ciara", k=1)[0]
        assert hit.article.id == "demo-storm-ciara-schiphol"
        assert hit.passage.sentences == ()  # indexed before sentence offsets were stored
        # until the next indexing run, each older article is a story of its own
        assert len(engine.latest(n=10)) == 8
        extra = tmp_path / "extra.md"
        extra.write_text("# Saltmere ferry\n\nThe Saltmere ferry will run every hour.\n")
        engine.add_source(str(extra), "extra")  # the run gives every older article its story
        assert engine.store.articles_without_story() == []
        ferry = engine.search("Saltmere ferry every hour", k=1)[0].passage
        assert [ferry.text[s:e] for s, e in ferry.sentences][-1] == (
            "The Saltmere ferry will run every hour.")
    finally:
        engine.close()
    again = make_engine(data, FakeEmbedder())  # a second start finds nothing to do
    again.close()


def test_a_newer_schema_is_refused(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="written by a newer newsbot"):
        make_engine(data, FakeEmbedder())


def test_a_date_in_the_future_is_capped_and_kept(fake_engine, tmp_path):
    path = tmp_path / "future.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in [
        {"id": "f1", "title": "Time traveller", "text": "A story dated far ahead.",
         "published": "2099-01-01T00:00:00Z"},
        {"id": "f2", "title": "Today", "text": "A story dated now.",
         "published": "2020-02-10T00:00:00Z"}]) + "\n")
    fake_engine.add_source(str(path), "future")
    st = fake_engine.store.stats()
    assert st.last is not None and st.last.timestamp() <= time.time() + 86_400 + 5
    raw = fake_engine.store.db.execute(
        "SELECT published_raw FROM articles WHERE id='f1'").fetchone()[0]
    assert raw == pytest.approx(4070908800.0)
    assert fake_engine.refresh("future")[0].unchanged == 2  # the cap is stable across reads


def test_a_postgresql_schema_upgrades_in_place_and_a_newer_one_is_refused(tmp_path, pg_url):
    """A database as the first PostgreSQL release wrote it (schema 1: passages without their
    sentence offsets) is upgraded at start-up, its data kept and still answering; a newer
    schema is refused."""
    import psycopg

    from index.pgstore import PG_SCHEMA_VERSION

    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"id": "a1", "title": "Tram line opens", "text": "The new tram "
                               "line opened on Friday. It links the harbour to the university.",
                               "published": "2020-02-01"}) + "\n")
    engine = make_engine(tmp_path / "data", FakeEmbedder(), database_url=pg_url)
    engine.add_source(str(src), "city")
    engine.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # back to what version 1 wrote
        conn.execute("ALTER TABLE passages DROP COLUMN sentences")
        conn.execute("UPDATE schema_version SET version = 1")
    engine = make_engine(tmp_path / "data", FakeEmbedder(), database_url=pg_url)
    try:
        hit = engine.search("tram harbour university", k=1)[0]
        assert hit.article.id == "a1" and hit.passage.sentences == ()  # read without them
        src.write_text(src.read_text() + json.dumps({
            "id": "a2", "title": "Library hours", "text": "The library opens late. Staff "
            "were hired for the evenings."}) + "\n")
        engine.add_source(str(src), "city")
        (p,) = engine.store.passages_of_article("a2")
        assert [p.text[s:e] for s, e in p.sentences] == [
            "The library opens late.", "Staff were hired for the evenings."]
    finally:
        engine.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (PG_SCHEMA_VERSION,)]
        conn.execute("UPDATE schema_version SET version = version + 1")
    with pytest.raises(ConfigError, match="newer newsbot"):
        make_engine(tmp_path / "data", FakeEmbedder(), database_url=pg_url)