"""kill -9 in the middle of a refresh: the index answers from the old or the new state of each
article, never a half state, and the next run completes it with nothing lost or duplicated.
Real processes and embedded Chroma, on SQLite and on PostgreSQL; the test embedder, at a model's
pace."""

from __future__ import annotations

import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from index.passages import split_passages
from tests.conftest import BACKENDS, DEMO, ROOT, make_engine
from tests.fakes import FakeEmbedder

N_ARTICLES = 120


def _corpus(version: int) -> list[dict]:
    base = [json.loads(line) for line in (DEMO / "articles.jsonl").read_text().splitlines()]
    out = []
    for i in range(N_ARTICLES):
        b = base[i % len(base)]
        first = b["text"].split("\n\n")[0]
        text = f"Edition {i}. {first}"
        if version == 2:
            text += f"\n\nUpdate {i}: the story was revised with new details."
        out.append({"id": f"a{i}", "title": f"{b['title']} ({i})", "text": text,
                    "published": b["published"], "source": b["source"]})
    return out


def _run(data: Path, src: Path, kill_after: int | None, url: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NEWSBOT_DATABASE_URL"}
    if url:
        env["NEWSBOT_DATABASE_URL"] = url
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests._crash_child", str(data), str(src), "4"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env,
    )
    lines = 0
    try:
        for line in proc.stdout:
            if line.startswith("progress"):
                lines += 1
                if kill_after is not None and lines >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            if line.startswith("done"):
                proc.wait(timeout=60)
                return line
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, f"child ended with {proc.returncode}"
    return "killed"


def _check_consistent(data: Path, texts: dict[int, set[str]], url: str | None) -> dict[str, int]:
    """Every article is wholly old or wholly new; returns {article_id: version}."""
    if url:
        import psycopg

        db = psycopg.connect(url, autocommit=True)
        query = functools.partial(_pg_rows, db)
    else:
        db = sqlite3.connect(data / "newsbot.sqlite3")
        db.execute("INSERT INTO passages_fts(passages_fts) VALUES('integrity-check')")
        query = functools.partial(_sqlite_rows, db)
    versions = {}
    rows = query("SELECT id, title, text FROM articles")
    assert len(rows) == N_ARTICLES, "articles were lost"
    for aid, title, text in rows:
        version = 2 if text in texts[2] else 1
        assert text in texts[version]
        want = {p.id for p in split_passages(aid, text, salt=title)}
        have = {r[0] for r in query("SELECT id FROM passages WHERE article_id=?", (aid,))}
        assert have == want, f"{aid} shows a mix of old and new passages"
        versions[aid] = version
    dup = query("SELECT COUNT(*) - COUNT(DISTINCT id) FROM passages")[0][0]
    assert dup == 0
    db.close()
    return versions


def _sqlite_rows(db, sql, args=()):
    return db.execute(sql, args).fetchall()


def _pg_rows(db, sql, args=()):
    return db.execute(sql.replace("?", "%s"), args).fetchall()


@pytest.fixture(params=BACKENDS)
def store_backend(request) -> str:
    return str(request.param)


@pytest.mark.slow
def test_kill_9_during_refresh(tmp_path, database_url):
    model = FakeEmbedder()
    url = database_url
    make = functools.partial(make_engine, database_url=url)
    data, src = tmp_path / "data", tmp_path / "corpus.jsonl"
    v1, v2 = _corpus(1), _corpus(2)
    texts = {1: {a["text"] for a in v1}, 2: {a["text"] for a in v2}}
    src.write_text("".join(json.dumps(a) + "\n" for a in v1))
    first = make(data, model)
    first.add_source(str(src), "corpus")
    first.close()

    src.write_text("".join(json.dumps(a) + "\n" for a in v2))
    seen_partial = False
    for kill_after in (2, 9):
        _run(data, src, kill_after, url)
        versions = _check_consistent(data, texts, url)
        seen_partial |= 0 < sum(v == 2 for v in versions.values()) < N_ARTICLES
        # the killed index still answers, from visible passages only
        engine = make(data, model)
        hits = engine.search("Storm Ciara Schiphol flights", k=5)
        assert hits and all(h.article.text[h.passage.start : h.passage.end] == h.passage.text
                            for h in hits)
        engine.close()
    assert seen_partial, "no kill landed mid-refresh; the test did not test anything"

    line = _run(data, src, None, url)
    assert line.startswith("done")
    versions = _check_consistent(data, texts, url)
    assert set(versions.values()) == {2}
    engine = make(data, model)
    assert engine.store.all_vector_ids() == engine.store.all_passage_ids()
    assert engine.store.get_state("dirty") is None
    # a further run has nothing left to do
    assert engine.refresh("corpus")[0].embedded == 0
    engine.close()
