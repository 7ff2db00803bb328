"""Incremental, idempotent indexing on a real SQLite or PostgreSQL store + embedded Chroma
(hashed-words embedder): every test runs on both."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from tests.conftest import BACKENDS, DEMO


@pytest.fixture(params=BACKENDS)
def store_backend(request) -> str:
    return str(request.param)


def _write(path, articles):
    path.write_text("".join(json.dumps(a) + "\n" for a in articles))


ARTS = [
    {"id": "a1", "title": "Tram line opens", "text": "The new tram line opened on Friday. "
     "It links the harbour to the university.", "published": "2020-02-01T09:00:00Z",
     "source": "Gazette", "url": "https://x.example/tram"},
    {"id": "a2", "title": "Library extends hours", "body": "The city library will open until "
     "ten at night from March.\n\nThe council pays for two more staff.", "published": "2020-02-02"},
]


def test_jsonl_ids_fields_and_passages(fake_engine, tmp_path):
    src = tmp_path / "a.jsonl"
    _write(src, ARTS)
    report = fake_engine.add_source(str(src), "local")
    assert (report.new, report.articles) == (2, 2)
    arts = fake_engine.store.get_articles(["a1", "a2"])
    assert arts["a1"].publisher == "Gazette" and arts["a1"].url == "https://x.example/tram"
    assert arts["a2"].text.startswith("The city library")  # body is an alias of text
    assert arts["a2"].published.isoformat() == "2020-02-02T00:00:00+00:00"
    for aid, art in arts.items():
        for p in fake_engine.store.passages_of_article(aid):
            assert art.text[p.start : p.end] == p.text
    hit = fake_engine.search("tram harbour university", k=1)[0]
    assert hit.article.id == "a1"
    assert hit.to_json()["article_id"] == "a1"


def test_readding_unchanged_embeds_nothing(fake_engine, tmp_path):
    src = tmp_path / "a.jsonl"
    _write(src, ARTS)
    fake_engine.add_source(str(src), "local")
    before = fake_engine.embedder.texts_encoded
    again = fake_engine.add_source(str(src))
    assert again.embedded == 0 and again.unchanged == 2
    assert fake_engine.embedder.texts_encoded == before
    assert fake_engine.refresh("local")[0].embedded == 0
    assert fake_engine.embedder.texts_encoded == before


def test_a_changed_article_replaces_its_passages(fake_engine, tmp_path):
    src = tmp_path / "a.jsonl"
    _write(src, ARTS)
    fake_engine.add_source(str(src), "local")
    store = fake_engine.store
    old = {p.id for p in store.passages_of_article("a1")}
    changed = [dict(ARTS[0], text="The tram line opening was delayed to April."), ARTS[1]]
    _write(src, changed)
    report = fake_engine.refresh("local")[0]
    assert (report.updated, report.unchanged) == (1, 1)
    new = {p.id for p in store.passages_of_article("a1")}
    assert old.isdisjoint(new)
    assert store.all_vector_ids() == store.all_passage_ids()
    assert "delayed to April" in fake_engine.search("tram delayed", k=1)[0].passage.text


def test_a_file_source_mirrors_its_file(fake_engine, tmp_path):
    src = tmp_path / "a.jsonl"
    _write(src, ARTS)
    fake_engine.add_source(str(src), "local")
    _write(src, ARTS[:1])
    report = fake_engine.refresh("local")[0]
    assert report.removed == 1 and report.articles == 1
    assert fake_engine.store.get_articles(["a2"]) == {}
    assert fake_engine.store.all_vector_ids() == fake_engine.store.all_passage_ids()


def test_remove_source_drops_its_passages(fake_engine):
    fake_engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    assert len(fake_engine.store.all_vector_ids()) > 8
    fake_engine.remove_source("demo")
    assert fake_engine.store.all_passage_ids() == set()
    assert fake_engine.store.all_vector_ids() == set()
    assert fake_engine.search("Idlib", k=3) == []
    assert fake_engine.list_sources() == []


def test_list_counts_and_refresh_time(fake_engine):
    fake_engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    fake_engine.add_source(str(DEMO / "feed.xml"), "gazette")
    listed = {s.name: s for s in fake_engine.list_sources()}
    assert listed["demo"].articles == 8 and listed["gazette"].articles == 3
    assert listed["demo"].passages >= 8 and listed["demo"].last_refresh is not None
    assert listed["gazette"].kind == "feed" and listed["demo"].last_error is None


def test_vectors_without_a_manifest_row_are_never_shown(fake_engine):
    """A crash between the vector write and the SQLite commit leaves orphan vectors behind."""
    import numpy as np

    from index.models import Passage

    fake_engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    orphan = Passage("p_orphan", "ghost", 0, 0, 10, "Idlib Idlib Idlib")
    vec = fake_engine.embedder.encode(["Idlib Idlib Idlib"])
    fake_engine.store.upsert_vectors([orphan], vec, {"ghost": None})
    fake_engine.store.set_state("dirty", "1")
    assert all(h.passage.id != "p_orphan" for h in fake_engine.search("Idlib Idlib Idlib", k=20))
    fake_engine.reconcile()
    assert "p_orphan" not in fake_engine.store.all_vector_ids()
    assert isinstance(vec, np.ndarray)


def test_a_chroma_that_lost_its_vectors_is_repaired_from_sqlite(fake_engine):
    fake_engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    store = fake_engine.store
    want = store.all_passage_ids()
    store.delete_vectors(list(want)[:5])
    before = fake_engine.embedder.texts_encoded
    fake_engine.reconcile()
    assert store.all_vector_ids() == want
    assert fake_engine.embedder.texts_encoded == before  # restored without the model


def test_lexical_search_asks_for_the_rarest_words_the_index_holds(fake_engine, tmp_path,
                                                                  store_backend):
    """With a cap on its words, the full-text query keeps the rarest words of the question that
    some passage holds: a common word would make it read and rank much of the index."""
    src = tmp_path / "c.jsonl"
    arts = [{"id": f"c{i}", "title": f"Council budget {i}",
             "text": f"The council will open its budget talks on day {i}."} for i in range(40)]
    arts += [{"id": f"t{i}", "title": "Tram works", "text": f"The tram depot number {i} is "
              "being rebuilt by the council."} for i in range(3)]
    arts.append({"id": "h", "title": "Harbour tram", "text": "A tram line will reach the "
                 "harbour next spring."})
    _write(src, arts)
    fake_engine.add_source(str(src), "local")
    store = fake_engine.store
    if store_backend == "postgres":
        store.db.execute("ANALYZE passages")  # what autovacuum does as the table grows
        store._common = None
    question = "Will the council open the tram to the harbour or the zeppelin?"
    assert _words(store.fts_query(question, max_terms=2)) == {"tram", "harbour"}  # not the
    # common words; not a word no passage holds
    assert {"council", "open", "zeppelin"} <= _words(store.fts_query(question))
    best = store.lexical(question, 3, max_terms=2)[0][0]
    assert store.get_passages([best])[best].article_id == "h"  # it holds both rare words


def test_the_stems_counted_are_those_fts5_stores(fake_engine, tmp_path, store_backend):
    """FTS5's porter tokenizer leaves words under three letters alone: "US" is counted as "us"
    (a Porter stemmer alone makes it "u", a word no passage holds, and a common word looked
    rare)."""
    from index.store import porter

    if store_backend == "postgres":
        pytest.skip("FTS5's vocabulary is the SQLite store's")

    src = tmp_path / "us.jsonl"
    _write(src, [{"id": f"u{i}", "title": "Trade", "text": f"US exports rose {i} percent."}
                 for i in range(5)])
    fake_engine.add_source(str(src), "local")
    assert porter("US") == "us" and porter("exporters") == "export"
    assert fake_engine.store._doc_counts([porter("US"), porter("exports")]) == {"us": 5,
                                                                              "export": 5}


def test_bm25_counts_every_word_whose_stem_the_question_holds():
    """BM25 stems only the words that begin as a question stem does: a word whose "y" Porter
    turns to "i" ("eyed" is "ei", "toys" "toi") is still counted, and the scores are those of
    counting every word."""
    import math
    from collections import Counter

    from index.search import bm25
    from index.store import porter

    texts = {"p1": "Toy makers eyed the toys, and the toy shop's days were long.",
             "p2": "The day the shop closed, nobody eyed it.",
             "p3": "Makers of trams met at the depot."}
    question = "Which toys were eyed by makers for days?"

    class Stats:  # the index's statistics, as Store.term_stats gives them
        def term_stats(self, stems):
            df = {"toi": 3, "ei": 2, "maker": 5, "dai": 9}
            return 100, 10.0, {s: df[s] for s in stems if s in df}

    def every_word(text: str) -> float:
        n, mean, df = Stats().term_stats(["toi", "ei", "maker", "dai"])
        counts = Counter(porter(w) for w in re.findall(r"\w+", text.lower()))
        norm = 1.2 * (1 - 0.75 + 0.75 * (text.count(" ") + 1) / mean)
        return sum(math.log((n - d + 0.5) / (d + 0.5)) * counts[t] * 2.2 / (counts[t] + norm)
                   for t, d in df.items() if counts[t])

    scores = bm25(Stats(), question, texts)  # type: ignore[arg-type]
    assert porter("eyed") == "ei" and porter("toys") == "toi" and porter("days") == "dai"
    assert set(scores) == {"p1", "p2", "p3"}
    for pid, text in texts.items():
        assert scores[pid] == pytest.approx(every_word(text))
    assert scores["p1"] > scores["p2"] > scores["p3"]


def _words(query: str | None) -> set[str]:
    """The words of a full-text query (FTS5's or PostgreSQL's), without its operators."""
    return set(re.findall(r"\w+", query or "")) - {"OR"}


def _wide_and_narrow(engine, tmp_path):
    """Sixty dated articles from one source, four from another, on five subjects."""
    wide, narrow = tmp_path / "wide.jsonl", tmp_path / "narrow.jsonl"
    topics = ["harbour ferry", "tram depot", "library hours", "glassworks jobs", "budget talks"]
    _write(wide, [{"id": f"w{i}", "title": f"Wide {i}", "published": f"2020-01-{i % 28 + 1:02d}",
                   "text": f"The {topics[i % 5]} story number {i} in the wide feed."}
                  for i in range(60)])
    _write(narrow, [{"id": f"n{i}", "title": f"Narrow {i}", "published": "2020-02-10",
                     "text": f"The {topics[i % 5]} item {i} in the narrow feed."}
                    for i in range(4)])
    engine.add_source(str(wide), "wide")
    engine.add_source(str(narrow), "narrow")


JAN = (datetime(2020, 1, 10, tzinfo=UTC).timestamp(), datetime(2020, 1, 20, tzinfo=UTC).timestamp())
SCOPES = [(None, None, ("wide",)), (None, None, ("narrow",)), (*JAN, ()), (*JAN, ("narrow",))]


def _in_scope(store, since, until, sources) -> list[tuple[str, bytes]]:
    rows = store._q("SELECT p.id, p.vector, a.published, s.source FROM passages p "
                    "JOIN articles a ON a.id = p.article_id "
                    "JOIN article_sources s ON s.article_id = a.id")
    return [(r[0], r[1]) for r in rows
            if (since is None or r[2] >= since) and (until is None or r[2] < until)
            and (not sources or r[3] in sources)]


@pytest.mark.parametrize(("near_cost", "members"), [(0.0, 0), (0.0, 10**6), (1e9, 0)])
def test_a_limited_search_finds_the_nearest_passages_in_scope(fake_engine, tmp_path, near_cost,
                                                              members):
    """Within a window or a source, the dense side returns the nearest passages of that scope
    only, as an exact search over the scope's vectors would, whether Chroma's nearest were
    fetched and limited (a scope holding much of the index) or the scope was searched exactly
    (a small share of it, or too few of Chroma's nearest in it)."""
    import numpy as np

    _wide_and_narrow(fake_engine, tmp_path)
    store = fake_engine.store
    store.NEAR_COST = near_cost  # Chroma's nearest limited (0), or the scope read exactly
    store.SCOPE_MEMBERS = members  # limited by the store, or by the scope's ids kept in memory
    qv = fake_engine.embedder.encode(["When does the harbour ferry run?"])[0]
    for since, until, sources in SCOPES:
        got = store.dense(qv, 5, since, until, sources)
        scope = [(i, float(np.dot(np.frombuffer(v, dtype=np.float32), qv)))
                 for i, v in _in_scope(store, since, until, sources)]
        assert scope or (sources == ("narrow",) and since)
        want = sorted(scope, key=lambda x: -x[1])[:5]
        assert [round(s, 5) for _, s in got] == [round(s, 5) for _, s in want], (since, sources)
        assert {i for i, _ in got} <= {i for i, _ in scope}  # (scores tie: the ids may differ)


def test_a_scope_kept_in_memory_follows_the_index(fake_engine, tmp_path, store_backend):
    """A scope searched exactly keeps its vectors for the next question; a write forgets them,
    so an article added to the scope is found at once, and one deleted is gone."""
    _wide_and_narrow(fake_engine, tmp_path)
    store = fake_engine.store
    store.NEAR_COST = 1e9  # the scope is read exactly
    question = "When is the harbour ferry item in the narrow feed?"
    qv = fake_engine.embedder.encode([question])[0]
    first = store.dense(qv, 3, sources=("narrow",))
    assert len(store._scope_vectors) == 1 and {i for i, _ in first} <= {
        i for i, _ in _in_scope(store, None, None, ("narrow",))}
    assert store.dense(qv, 3, sources=("narrow",)) == first  # from memory
    narrow = tmp_path / "narrow.jsonl"
    narrow.write_text(narrow.read_text() + json.dumps(
        {"id": "n9", "title": "Narrow 9", "published": "2020-02-11",
         "text": "When is the harbour ferry item in the narrow feed?"}) + "\n")
    fake_engine.refresh("narrow")
    assert store._scope_vectors == {}
    found = store.dense(qv, 3, sources=("narrow",))
    assert store.get_passages([found[0][0]])[found[0][0]].article_id == "n9"
    assert found[0][1] > first[0][1]
    fake_engine.remove_source("narrow")
    assert store.dense(qv, 3, sources=("narrow",)) == []


def test_a_scope_asked_about_often_is_searched_from_memory(fake_engine, tmp_path):
    """A scope whose vectors cost more to read than fetching Chroma's nearest once is read into
    memory when it is asked about often enough for that to cost less; the answers stay the
    same."""
    import math

    _wide_and_narrow(fake_engine, tmp_path)
    store = fake_engine.store
    qv = fake_engine.embedder.encode(["When does the harbour ferry run?"])[0]
    first = store.dense(qv, 5, sources=("wide",))
    assert store._scope_vectors == {}  # Chroma's nearest, limited to the source
    conds = store._shares
    share = next(iter(conds.values()))[1]
    in_scope = share * store._passage_total()
    want = max(5, math.ceil(1.5 * 5 / share))
    needed = math.ceil(in_scope * store.EXACT_COST / (want * store.NEAR_COST))
    assert needed > 2
    for _ in range(needed - 2):
        assert store.dense(qv, 5, sources=("wide",)) == first
    assert store._scope_vectors == {}
    again = store.dense(qv, 5, sources=("wide",))
    assert len(store._scope_vectors) == 1
    assert [round(s, 5) for _, s in again] == [round(s, 5) for _, s in first]


@pytest.mark.parametrize(("small_scope", "members"), [(1.0, 0), (0.0, 0), (0.0, 10**6)])
def test_a_limited_lexical_search_ranks_the_scopes_passages(fake_engine, tmp_path, small_scope,
                                                             members, store_backend):
    """Within a window or a source, the full-text side returns the scope's best passages only,
    the same whether the scope's passages were read first (a small share of the index) or every
    match was joined to its article."""
    _wide_and_narrow(fake_engine, tmp_path)
    store = fake_engine.store
    store.SMALL_SCOPE = small_scope  # the scope's passages read first, or joined to
    store.SCOPE_MEMBERS = members  # (or kept in memory)
    question = "When does the harbour ferry run?"
    everything = dict(store.lexical(question, 100))
    for since, until, sources in SCOPES:
        scope = {i for i, _ in _in_scope(store, since, until, sources)}
        want = sorted(((i, s) for i, s in everything.items() if i in scope),
                      key=lambda x: -x[1])[:3]
        got = store.lexical(question, 3, since, until, sources)
        assert [round(s, 5) for _, s in got] == [round(s, 5) for _, s in want], (since, sources)
        assert len(got) == len(want) and {i for i, _ in got} <= scope


def test_reads_do_not_wait_for_a_write_and_a_transaction_sees_its_own(fake_engine, tmp_path,
                                                                      store_backend):
    """Questions read while an index write is open: each thread reads on a connection of its
    own and sees the last commit; the writing thread sees its own uncommitted rows."""
    import threading

    if store_backend == "postgres":
        pytest.skip("the PostgreSQL store reads and writes on one connection, in turn")

    _write(tmp_path / "a.jsonl", ARTS)
    fake_engine.add_source(str(tmp_path / "a.jsonl"), "local")
    store = fake_engine.store
    seen: dict[str, object] = {}
    opened, read = threading.Event(), threading.Event()

    def reader() -> None:
        opened.wait(5)
        seen["during"] = store.stats(passages=True).articles
        read.set()

    t = threading.Thread(target=reader)
    t.start()
    with store.transaction() as db:
        db.execute("DELETE FROM articles WHERE id = 'a1'")
        seen["own"] = store.stats(passages=True).articles
        opened.set()
        seen["waited"] = not read.wait(5)  # the other thread answered with this one open
    t.join(5)
    assert seen == {"own": 1, "during": 2, "waited": False}
    assert store.stats(passages=True).articles == 1


def test_a_large_batch_is_split_ahead_and_all_of_it_indexed(fake_engine, tmp_path, monkeypatch):
    """Many articles are split in a worker process while the model embeds the first commits;
    every article is indexed, and the progress ends at the exact passage count."""
    import index.passages

    monkeypatch.setattr(index.passages, "SPLIT_AHEAD", 5)
    fake_engine.articles_per_commit = 8
    src = tmp_path / "many.jsonl"
    _write(src, [{"id": f"m{i}", "title": f"Harbour note {i}",
                  "text": f"Ferry {i} leaves at {i} o'clock. " * (1 + i % 4) + "\n\nNo more news."}
                 for i in range(30)])
    seen = []
    report = fake_engine.add_source(str(src), "many",
                                    progress=lambda done, total, what: seen.append((done, total)))
    stats = fake_engine.store.stats()
    assert report.new == 30 and stats.articles == 30
    assert seen[-1] == (stats.passages, stats.passages)
    assert all(done <= total for done, total in seen)


def test_an_engine_runs_numpy_blas_on_one_thread(fake_engine):
    """BLAS threads spin after each call and took the answer ranker's cores; an engine's
    process runs BLAS on one."""
    from threadpoolctl import threadpool_info

    # numpy's own (scipy's, loaded later by datasketch, does no work when a question is asked)
    blas = [i for i in threadpool_info() if i["user_api"] == "blas" and "numpy" in i["filepath"]]
    assert blas and all(i["num_threads"] == 1 for i in blas)
