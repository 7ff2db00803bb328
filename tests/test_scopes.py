"""Sources in scopes: global (the operator's) and per Discord server, through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

import index.engine as engine_module
from index.cli import app
from index.engine import Engine
from index.errors import NewsbotError, UnknownSource
from index.models import Filters
from index.settings import IndexSettings
from tests.conftest import BACKENDS
from tests.fakes import FakeEmbedder

A, B = "111111111111111111", "222222222222222222"


def _articles(path, *items):
    path.write_text("".join(json.dumps({"id": i, "title": t, "text": x, "publisher": p}) + "\n"
                            for i, t, x, p in items))
    return str(path)


@pytest.fixture(params=BACKENDS)
def store_backend(request) -> str:
    return str(request.param)


@pytest.fixture
def scoped(fake_engine, tmp_path):
    e = fake_engine
    e.add_source(_articles(tmp_path / "global.jsonl", (
        "g1", "Harbour ferry timetable changes", "The harbour ferry runs every twenty minutes "
        "from Monday, the port authority said.", "Coast Post")), "wire")
    a_feed = _articles(tmp_path / "a.jsonl", (
        "a1", "Glassworks reopens in Saltmere", "The old glassworks in Saltmere reopened on "
        "Friday with forty new jobs, the owners said.", "Saltmere Herald"))
    e.add_source(a_feed, "herald", server=A)
    return e, a_feed


def _ids(engine, question, server):
    return [h.article.id for h in engine.search(question, k=5, filters=Filters(server=server))]


def test_a_servers_sources_are_its_own(scoped):
    e, _ = scoped
    assert "a1" in _ids(e, "glassworks Saltmere jobs", A)
    assert "a1" not in _ids(e, "glassworks Saltmere jobs", B)
    assert "a1" not in _ids(e, "glassworks Saltmere jobs", None)  # the operator's global view
    for server in (A, B, None):  # global sources answer everywhere
        assert "g1" in _ids(e, "harbour ferry timetable", server)
    assert e.ask("When did the Saltmere glassworks reopen?", filters=Filters(server=B)).abstained
    assert not e.ask("When did the Saltmere glassworks reopen?",
                     filters=Filters(server=A)).abstained
    # names: B sees the global source only; A sees its own too, marked as its own
    assert [(s.name, s.server) for s in e.list_sources(server=B)] == [("wire", None)]
    assert [(s.name, s.server) for s in e.list_sources(server=A)] == [("wire", None),
                                                                      ("herald", A)]
    # a source filter by another server's name finds nothing rather than its articles
    hits = e.search("glassworks", filters=Filters(server=B, sources=("herald",)))
    assert hits == []
    hits = e.search("glassworks", filters=Filters(server=B, sources=(f"{A}:herald",)))
    assert hits == []


def test_admins_change_their_own_servers_sources_only(scoped):
    e, _ = scoped
    with pytest.raises(UnknownSource):
        e.remove_source("herald", server=B)
    with pytest.raises(UnknownSource):
        e.refresh("herald", server=B)
    assert e.refresh(server=B) == []  # B has no sources of its own
    with pytest.raises(NewsbotError, match="only the operator"):
        e.remove_source("wire", server=A)
    assert [r.source for r in e.refresh(server=A)] == ["herald"]
    assert "a1" in _ids(e, "glassworks Saltmere jobs", A)


def test_one_location_in_two_servers_is_embedded_once_and_removed_separately(scoped):
    e, a_feed = scoped
    before = e.embedder.texts_encoded
    report = e.add_source(a_feed, "saltmere", server=B)
    # new to B, as a first read would say: nothing tells B that A follows the same feed
    assert (report.source, report.articles, report.new, report.unchanged) == ("saltmere", 1, 1, 0)
    assert e.embedder.texts_encoded == before  # the article was not embedded again
    assert "a1" in _ids(e, "glassworks Saltmere jobs", B)
    # a refresh of every scope reads the location once, for both
    reads = []
    real = engine_module.read_source
    engine_module.read_source = lambda *a, **k: reads.append(a[0]) or real(*a, **k)
    try:
        assert sorted(r.source for r in e.refresh()) == ["herald", "saltmere", "wire"]
    finally:
        engine_module.read_source = real
    assert reads.count(a_feed) == 1
    # removing it from A leaves B's
    e.remove_source("herald", server=A)
    assert "a1" not in _ids(e, "glassworks Saltmere jobs", A)
    assert "a1" in _ids(e, "glassworks Saltmere jobs", B)
    assert [s.name for s in e.list_sources(server=A)] == ["wire"]


def test_a_shared_articles_metadata_is_not_rewritten_by_another_source(scoped, tmp_path):
    e, _ = scoped
    # B's feed carries the global article's id and text under another title and publisher
    e.add_source(_articles(tmp_path / "b.jsonl", (
        "g1", "HACKED title", "The harbour ferry runs every twenty minutes from Monday, the "
        "port authority said.", "Evil Publisher")), "mirror", server=B)
    for server in (A, B, None):
        [hit] = [h for h in e.search("harbour ferry timetable", k=5,
                                     filters=Filters(server=server)) if h.article.id == "g1"]
        assert (hit.article.title, hit.article.publisher) == ("Harbour ferry timetable changes",
                                                              "Coast Post")


def test_errors_of_a_shared_location_carry_each_servers_own_name(scoped, tmp_path):
    e, a_feed = scoped
    e.add_source(a_feed, "b-label", server=B)
    Path(a_feed).write_bytes(b"\x00\x01")
    [report] = e.refresh(server=A)
    assert report.error and "b-label" not in report.error
    [b_view] = [s for s in e.list_sources(server=B) if s.server == B]
    assert b_view.last_error and "herald" not in b_view.last_error
    assert b_view.last_error.startswith("b-label: ")


def test_a_servers_source_count_is_capped(scoped, tmp_path):
    e, _ = scoped
    e.server_source_limit = 1
    with pytest.raises(NewsbotError, match="1 sources, the most"):
        e.add_source(_articles(tmp_path / "more.jsonl", ("m1", "More", "More news.", "Y")),
                     "more", server=A)
    e.add_source(str(tmp_path / "more.jsonl"), "more", server=B)  # B's count is its own


def test_refresh_reads_at_most_the_fetch_limit_per_server(fake_engine, tmp_path):
    e = fake_engine
    e.server_fetch_limit = 2
    for i in range(4):
        e.add_source(_articles(tmp_path / f"s{i}.jsonl", (f"s{i}", f"Story {i}", f"Text {i}.",
                                                         "Z")), f"s{i}", server=A)
    first = {r.source for r in e.refresh()}
    second = {r.source for r in e.refresh()}
    assert len(first) == len(second) == 2 and first | second == {"s0", "s1", "s2", "s3"}


def test_a_server_left_is_forgotten_after_the_grace_period(scoped, tmp_path):
    e, _ = scoped
    e.update_server_settings(A, {"digest_hour_utc": 6})
    e.server_left(A, when=1000.0)
    assert e.forget_servers(grace_seconds=86_400, now=1000.0 + 3600) == []  # within grace
    assert e.forget_servers(grace_seconds=86_400, now=1000.0 + 2 * 86_400) == [A]
    assert e.list_sources(everything=True)[0].name == "wire"
    assert len(e.list_sources(everything=True)) == 1
    assert e.store.get_articles(["a1"]) == {}  # no other scope held it
    assert e.server_settings(A) == {}


def test_server_settings_are_stored_per_server(fake_engine):
    e = fake_engine
    e.update_server_settings(A, {"digest_channel_id": 5, "mentions": False})
    e.update_server_settings(A, {"mentions": None})  # back to the default
    assert e.server_settings(A) == {"digest_channel_id": 5}
    assert e.server_settings(B) == {}
    assert e.all_server_settings() == {A: {"digest_channel_id": 5}}


def test_the_command_line_sees_as_a_server_does(tmp_path, monkeypatch):
    data = tmp_path / "data"
    engine = Engine.from_settings(IndexSettings(data_dir=data), embedder=FakeEmbedder(),
                                  ranker=None)
    try:
        engine.add_source(_articles(tmp_path / "g.jsonl", (
            "g1", "Harbour ferry timetable changes", "The harbour ferry runs every twenty "
            "minutes from Monday, the port authority said.", "Coast Post")), "wire")
        engine.add_source(_articles(tmp_path / "a.jsonl", (
            "a1", "Glassworks reopens in Saltmere", "The old glassworks in Saltmere reopened "
            "on Friday with forty new jobs, the owners said.", "Saltmere Herald")), "herald",
            server=A)
    finally:
        engine.close()
    # the CLI in this process, with the hashed embedder in place of the model
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(data))
    monkeypatch.delenv("CHROMA_HOST", raising=False)
    monkeypatch.setattr(engine_module, "make_embedder",
                        lambda kind="", model="": FakeEmbedder())
    runner = CliRunner()

    def cli(*args: str) -> Result:
        return runner.invoke(app, list(args))

    every = [json.loads(x) for x in cli("index", "list", "--json").stdout.splitlines()]
    assert [(s["name"], s["server"]) for s in every] == [("wire", None), ("herald", A)]
    seen_by_b = [json.loads(x) for x in cli("index", "list", "--server", B,
                                            "--json").stdout.splitlines()]
    assert [s["name"] for s in seen_by_b] == ["wire"]
    q = "When did the Saltmere glassworks reopen?"
    assert json.loads(cli("ask", q, "--server", B, "--json").stdout)["abstained"]
    as_a = json.loads(cli("ask", q, "--server", A, "--json").stdout)
    assert not as_a["abstained"] and as_a["citations"][0]["article_id"] == "a1"
    refused = cli("index", "remove", "herald", "--server", B)
    assert refused.exit_code == 1 and "no source named 'herald'" in refused.stderr
    assert cli("index", "list", "--server", "nope").exit_code == 1


def test_an_abstention_counts_and_names_only_what_the_server_sees(scoped):
    e, _ = scoped
    # "Saltmere" is only in A's article: to B it is a name no article mentions
    b = e.ask("Who owns the Saltmere glassworks?", filters=Filters(server=B))
    assert b.abstained and b.abstention.reason == "unknown_names"
    assert b.abstention.articles == 1  # the global article, not A's
    a = e.ask("Who won the Saltmere chess final?", filters=Filters(server=A))
    assert a.abstained and a.abstention.articles == 2


def test_a_copy_is_not_linked_to_another_servers_article(scoped, tmp_path):
    e, _ = scoped
    # B's feed carries the same text as A's article, with no id: B gets an article of its own
    # (linking would have shown B the title and URL A's source gave it)
    path = tmp_path / "copy.jsonl"
    path.write_text(json.dumps({"title": "Copy of the glassworks story", "publisher": "B Wire",
                                "text": "The old glassworks in Saltmere reopened on Friday "
                                        "with forty new jobs, the owners said."}) + "\n")
    report = e.add_source(str(path), "copy", server=B)
    assert report.new == 1 and report.duplicates == 0
    [hit] = e.search("glassworks Saltmere jobs", k=1, filters=Filters(server=B))
    assert (hit.article.title, hit.article.publisher) == ("Copy of the glassworks story",
                                                          "B Wire")
