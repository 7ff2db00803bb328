"""The `newsbot` command line and its JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.cli import app
from tests.conftest import DEMO, ROOT

NEWSBOT = str(Path(sys.executable).parent / "newsbot")


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def indexed(data_dir):
    """`newsbot index add` with the real model (in this process; the installed command runs as
    its own process in test_the_installed_command_reads_the_index): progress bar on stderr,
    report on stdout."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEWSBOT_DATA_DIR", str(data_dir))
        r = CliRunner().invoke(app, ["index", "add", str(DEMO / "articles.jsonl"), "--name",
                                     "demo"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    assert "demo: 8 articles, 8 new" in r.stdout
    assert "passages" in r.stderr  # the progress bar
    return data_dir


def test_the_installed_command_reads_the_index(indexed):
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(indexed)}
    env.pop("CHROMA_HOST", None)
    proc = subprocess.run([NEWSBOT, "index", "list", "--json"], env=env, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    [s] = _lines(proc.stdout)
    assert (s["name"], s["articles"], s["passages"]) == ("demo", 8, 16)


@pytest.fixture
def run(indexed, monkeypatch):
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(indexed))
    runner = CliRunner()

    def _run(*args: str, input: str | None = None):
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        return result

    return _run


def test_ask_json_shape_and_citation(run):
    r = run("ask", "How many flights did Schiphol cancel during Storm Ciara?", "--json")
    assert r.exit_code == 0
    [a] = _lines(r.stdout)
    assert set(a) == {"question", "abstained", "answer", "quotes", "citations", "abstention",
                      "phrasing", "disagreements"}
    assert a["disagreements"] == []
    assert a["abstained"] is False and a["abstention"] is None
    assert "240" in a["quotes"][0]["text"]
    assert set(a["quotes"][0]) == {"text", "citation", "score", "also"}
    assert 0.0 < a["quotes"][0]["score"] <= 1.0
    c = a["citations"][0]
    assert set(c) == {"n", "article_id", "title", "source", "url", "published"}
    assert (c["n"], c["article_id"], c["source"]) == (1, "demo-storm-ciara-schiphol",
                                                      "Northline Courier")
    assert c["published"].startswith("2020-02-09")
    assert a["quotes"][0]["citation"] == 1
    assert a["quotes"][0]["text"] in a["answer"] and "[1]" in a["answer"]


def test_several_questions_from_stdin(run):
    qs = "Who scored for the Rovers in the Coastal Cup final?\n\nWhat is the capital of Peru?\n"
    r = run("ask", "-", "--json", input=qs)
    out = _lines(r.stdout)
    assert [o["question"] for o in out] == ["Who scored for the Rovers in the Coastal Cup final?",
                                           "What is the capital of Peru?"]
    assert out[0]["abstained"] is False
    assert out[1]["abstained"] is True and out[1]["quotes"] == [] and out[1]["citations"] == []
    assert "8 articles from 3 Feb 2020 to 20 Feb 2020 are indexed" in out[1]["answer"]


def test_search_json(run):
    r = run("search", "zinc battery charging cycles", "port container traffic", "--json", "-k", "3")
    out = _lines(r.stdout)
    assert len(out) == 2
    assert len(out[0]["results"]) == 3
    top = out[0]["results"][0]
    assert top["article_id"] == "demo-aldercombe-zinc-battery"
    assert top["score"] >= out[0]["results"][1]["score"]
    assert out[1]["results"][0]["article_id"] == "demo-saltmere-port-record"


def test_latest_json(run):
    r = run("latest", "--json", "-n", "3")
    out = _lines(r.stdout)
    assert [o["published"][:10] for o in out] == ["2020-02-20", "2020-02-15", "2020-02-11"]
    for o in out:
        assert o["summary"] and o["title"] and o["source"]
    r = run("latest", "Idlib", "--json")
    ids = [o["article_id"] for o in _lines(r.stdout)]
    assert ids and all(i.startswith("demo-idlib") for i in ids)


def test_index_list_and_errors(run, tmp_path):
    r = run("index", "list", "--json")
    [s] = _lines(r.stdout)
    assert (s["name"], s["articles"], s["last_error"]) == ("demo", 8, None)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\x00\x01\x02")
    r = run("index", "add", str(bad), "--name", "bad")
    assert r.exit_code == 1
    assert "bad: binary file, not text" in r.stderr
    assert "`newsbot index remove bad` removes it" in r.stderr and r.stderr.strip().count("\n") == 0
    r = run("index", "list", "--json")
    listed = {s["name"]: s for s in _lines(r.stdout)}
    assert listed["bad"]["last_error"] == "bad: binary file, not text"
    assert listed["demo"]["articles"] == 8
    r = run("index", "remove", "bad")
    assert r.exit_code == 0
    r = run("index", "remove", "nope")
    assert r.exit_code == 1 and "no source named 'nope'" in r.stderr


def test_ask_filters_by_date_and_as_of(run):
    q = "How many flights did Schiphol cancel during Storm Ciara?"
    [before] = _lines(run("ask", q, "--json", "--until", "2020-02-08").stdout)
    assert before["abstained"] and before["abstention"]["period"] == "before 9 Feb 2020"
    assert "No indexed article before 9 Feb 2020 mentions “Schiphol”" in before["answer"]
    [that_day] = _lines(run("ask", q, "--json", "--since", "9 Feb 2020", "--until",
                            "2020-02-09").stdout)
    assert not that_day["abstained"] and "240" in that_day["quotes"][0]["text"]
    [earlier] = _lines(run("ask", q, "--json", "--as-of", "2020-02-05").stdout)
    assert earlier["abstained"]
    # "this week" is the week of the --as-of day
    [week] = _lines(run("ask", "What happened to Turkish troops in Idlib this week?", "--json",
                        "--as-of", "2020-02-12").stdout)
    assert not week["abstained"]
    assert {c["article_id"] for c in week["citations"]} == {"demo-idlib-observation-posts"}


def test_search_filters_by_source(run):
    [mine] = _lines(run("search", "port container traffic", "--json", "--source", "demo").stdout)
    assert mine["results"][0]["article_id"] == "demo-saltmere-port-record"
    [other] = _lines(run("search", "port container traffic", "--json", "--source",
                         "elsewhere").stdout)
    assert other["results"] == []


def test_a_bad_date_is_one_line(run):
    r = run("ask", "What happened?", "--since", "soonish")
    assert r.exit_code == 1
    assert r.stderr.strip() == "error: since: 'soonish' is not a date"


def test_an_empty_question_says_so_and_a_question_may_start_with_a_dash(run):
    r = run("ask", "  ")
    assert r.exit_code == 1 and r.stderr.strip() == "error: the question is empty"
    [a] = _lines(run("ask", "-5 percent: how much did Saltmere's revenue change?", "--json").stdout)
    assert a["question"].startswith("-5 percent")


def test_timeline_and_latest_by_story_as_json(run):
    [t] = _lines(run("timeline", "Idlib", "--json").stdout)
    assert t["topic"] == "Idlib"
    dates = [e["published"] for e in t["entries"]]
    assert dates == sorted(dates) and len(dates) == 3
    cited = {c["n"]: c for c in t["citations"]}
    assert {cited[e["citation"]]["source"] for e in t["entries"]} == {"Newsbot Demo Wire",
                                                                      "Northline Courier"}
    stories = _lines(run("latest", "Idlib talks", "--json").stdout)
    talks = [s for s in stories if s["article_id"] == "demo-idlib-ankara-talks"]
    assert len(talks) == 1 and "demo-idlib-ankara-talks-courier" not in [
        s["article_id"] for s in stories]
    assert [c["source"] for c in talks[0]["also"]] == ["Northline Courier"]
    assert talks[0]["first"].startswith("2020-02-08") and talks[0]["last"].startswith("2020-02-08")
    r = run("timeline", "Lufthansa strike")
    assert r.exit_code == 0 and "No indexed article on Lufthansa strike." in r.stdout
