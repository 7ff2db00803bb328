"""Quoted answers with the real model: verbatim quotes, citations, abstention and dates."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.text import key_names, normalise, verify_quote
from tests.conftest import DEMO, SHARED, text

DEMO_ARTICLES = [json.loads(line) for line in (DEMO / "articles.jsonl").read_text().splitlines()]


def _assert_verbatim(engine, answer):
    stored = engine.store.get_articles(q.article_id for q in answer.quotes)
    for q in answer.quotes:
        art = stored[q.article_id]
        assert normalise(q.text) in normalise(art.text)
        assert art.text[q.start : q.end] == q.text
        cited = answer.citations[q.citation - 1]
        assert cited.n == q.citation and cited.article_id == q.article_id
        assert f"[{q.citation}]" in text(answer) and q.text in text(answer)


def test_the_ankara_example(demo_engine):
    if not (SHARED / "idlib_talks_sputnik.txt").exists():
        pytest.skip("../shared/data/idlib_talks_sputnik.txt is absent")
    a = demo_engine.ask("Who led the delegations at the Ankara talks?")
    assert not a.abstained
    assert any("Sedat Onal" in q.text and "Sergei Vershinin" in q.text for q in a.quotes)
    sources = {c.source for c in a.citations}
    assert "Sputnik" in sources
    sput = next(c for c in a.citations if c.source == "Sputnik")
    assert sput.title.startswith("Russia, Turkey Discussed Situation in Syria's Idlib")
    _assert_verbatim(demo_engine, a)


QUESTIONS = [
    ("How much container traffic did the Port of Saltmere handle in 2019?", "1.42 million"),
    ("How much capacity did the Aldercombe zinc battery keep after 5,000 cycles?", "92 percent"),
    ("How many votes did the Brackenford wifi budget pass by?", "31 votes to 9"),
    ("How many flights did Schiphol cancel during Storm Ciara?", "240"),
    ("Which province did the Turkish convoy travel through?", "Hatay"),
    ("What did Erdogan ask Putin to do?", "Putin"),
]


@pytest.mark.parametrize(("question", "fact"), QUESTIONS)
def test_answers_quote_the_fact(demo_engine, question, fact):
    a = demo_engine.ask(question)
    assert not a.abstained, text(a)
    assert fact in a.quotes[0].text
    assert a.citations[0].title and a.citations[0].source
    _assert_verbatim(demo_engine, a)


@pytest.mark.xfail(strict=True, reason="the ranker trained with the team's BBC questions gives "
                   "Sputnik's 'three-hour negotiations' 0.51 for this wording, under 0.8 of the "
                   "demo wire's 'The talks lasted about three hours.' (0.97), so the second "
                   "outlet is not quoted (issue 8, open)")
def test_the_same_fact_from_two_outlets(demo_engine):
    a = demo_engine.ask("How long did the Russia-Turkey talks on Idlib in Ankara last?")
    assert not a.abstained
    assert len({c.source for c in a.citations}) >= 2
    assert any("three" in q.text for q in a.quotes)


WORDS = sorted({w for art in DEMO_ARTICLES for w in re.findall(r"[A-Za-z]{4,}", art["text"])})


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
def test_every_quote_shown_is_verbatim(demo_engine, words):
    a = demo_engine.ask(" ".join(words) + "?")
    if a.abstained:
        assert a.quotes == [] and a.citations == []
    _assert_verbatim(demo_engine, a)


@pytest.mark.parametrize("question", [
    "What is the best recipe for banana bread?",
    "Who won the 2022 FIFA World Cup?",
    "How does photosynthesis work in cacti?",
])
def test_off_topic_questions_abstain(demo_engine, question):
    a = demo_engine.ask(question)
    assert a.abstained, text(a)
    assert a.quotes == [] and a.citations == []
    assert re.search(r"No indexed article .*; \d+ articles from \d+ \w+ 2020 to 20 Feb 2020 are indexed", text(a))


def test_a_name_no_article_mentions_is_named_in_the_abstention(demo_engine):
    a = demo_engine.ask("How many flights did Lufthansa cancel during Storm Ciara?")
    assert a.abstained
    assert "No indexed article mentions “Lufthansa”" in text(a)


def test_a_year_with_no_news_abstains(demo_engine):
    a = demo_engine.ask("What happened in Idlib in 2019?")
    assert a.abstained and "No indexed article from “2019” answers this" in text(a)


def test_latest_prefers_the_newest_article(demo_engine):
    now = datetime(2020, 2, 21, tzinfo=UTC)
    a = demo_engine.ask("What is the latest news on Turkey in Idlib?", now=now)
    assert not a.abstained
    assert a.citations[0].article_id == "demo-idlib-observation-posts"


def test_this_week_filters_by_date(demo_engine):
    a = demo_engine.ask("What happened to Turkish troops in Idlib this week?",
                        now=datetime(2020, 2, 12, 12, tzinfo=UTC))
    assert not a.abstained
    assert {c.article_id for c in a.citations} == {"demo-idlib-observation-posts"}
    later = demo_engine.ask("What happened to Turkish troops in Idlib this week?",
                            now=datetime(2020, 3, 20, tzinfo=UTC))
    assert later.abstained and "from this week" in text(later)


def test_a_quote_that_no_longer_matches_its_article_is_never_shown(fake_engine):
    from dataclasses import replace

    fake_engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    fake_engine.config = replace(fake_engine.config, min_similarity=0.0)
    q = "Schiphol Airport cancelled arrivals departures Storm Ciara"
    ok = fake_engine.ask(q)
    assert any("Schiphol" in x.text for x in ok.quotes)
    # the passage drifts from the stored article (a bug, a bad migration): verification catches it
    fake_engine.store.db.execute("UPDATE passages SET text = replace(text, 'Schiphol', 'Heathrow')")
    bad = fake_engine.ask(q.replace("Schiphol", "Heathrow"))
    assert all("Heathrow" not in x.text for x in bad.quotes)
    assert "Heathrow" not in text(bad)


def test_verify_quote_normalises_only_space_and_quote_marks():
    art = "He said: “We will  return\nnext week.” Then he left."
    assert verify_quote('We will return next week."', art)
    assert not verify_quote("We will return next month.", art)
    assert not verify_quote("", art)


def test_key_names():
    assert key_names("Who led the delegations at the Ankara talks?") == ["Ankara"]
    assert key_names("What did Erdogan ask Putin in 2020?") == ["Erdogan", "Putin", "2020"]


class _Recorder:
    """A stand-in ranker: sure of sentences holding `answer`, and records what it reads."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.read: list[str] = []

    def score(self, question, sentences, contexts=None):
        import numpy as np

        self.read += sentences
        return np.array([0.9 if self.answer in s else 0.1 for s in sentences], dtype=np.float32)


TALKS = ("Weather in the capital was mild all week long. Markets in Istanbul closed higher on "
         "the day. Ankara hosted three-hour negotiations on Idlib on Monday afternoon. The "
         "delegations included diplomats, soldiers and intelligence officers. Football fans "
         "gathered downtown after the match.")


def test_the_ranker_reads_a_short_list_with_the_sentence_after_the_subject(fake_engine,
                                                                         tmp_path):
    """A long article gives the ranker dozens of sentences at a few milliseconds each: it reads
    only the most promising, and the sentence after the one naming the subject is among them
    (here it answers without repeating the question's words)."""
    from dataclasses import replace

    from index.answer import answer

    src = tmp_path / "talks.jsonl"
    src.write_text(json.dumps({"id": "talks", "title": "Talks in Ankara", "text": TALKS}) + "\n")
    fake_engine.add_source(str(src), "local")
    ranker = _Recorder("delegations included")
    config = replace(fake_engine.config, ranker_shortlist=2, min_answer_score=0.5)
    a = answer(fake_engine.store, fake_engine.embedder, ranker,
               "Who took part in the Ankara negotiations on Idlib?", config=config)
    assert a.quotes and a.quotes[0].text.startswith("The delegations included")
    assert len(ranker.read) == 2 and ranker.read[0].startswith("Ankara hosted")
    # reading every sentence, the same answer
    everything = _Recorder("delegations included")
    b = answer(fake_engine.store, fake_engine.embedder, everything,
               "Who took part in the Ankara negotiations on Idlib?",
               config=replace(config, ranker_shortlist=None))
    assert b.quotes[0].text == a.quotes[0].text and len(everything.read) == 5


_BRIDGE = {"id": "bridge", "title": "Norhaven opens its new bridge", "publisher": "Courier",
           "published": "2020-02-10T10:00:00Z",
           "text": "The new Norhaven bridge opened to traffic on Tuesday after three years of "
                   "work.\n\nIt cost 40 million euros to build, the city said."}
_BRIDGE_COST = "It cost 40 million euros to build, the city said."
_BRIDGE_QUESTION = "How much did the Norhaven bridge cost, Dabrowska and Okafor asked?"


@contextmanager
def _reading_one_passage(tmp_path, arts):
    """An engine (hashed words, the real ranker) over these articles that reads only the best
    passage of a question, so that what it found is known."""
    from dataclasses import replace

    from tests.conftest import make_engine
    from tests.fakes import FakeEmbedder

    src = tmp_path / "articles.jsonl"
    src.write_text("\n".join(json.dumps(a) for a in arts))
    engine = make_engine(tmp_path / "data", FakeEmbedder(), with_ranker=True)
    try:
        engine.add_source(str(src), "local")
        engine.config = replace(engine.config, passages_read=1, whole_articles=1)
        yield engine
    finally:
        engine.close()


def test_names_missing_from_what_was_found_take_a_surer_answer(tmp_path):
    """A question whose names are mostly not in what was found is declined, unless the
    configured `names_missing_score` lets a sentence the ranker is sure of answer it."""
    from dataclasses import replace

    budget = {"id": "budget", "title": "Council sets its budget", "publisher": "Courier",
              "published": "2020-02-09T10:00:00Z",
              "text": "Councillor Dabrowska and Mayor Okafor presented the council's budget for "
                      "parks and schools on Monday."}
    with _reading_one_passage(tmp_path, [_BRIDGE, budget]) as engine:
        # the best passage only: the bridge, which names neither councillor
        base = engine.config
        engine.config = replace(base, names_missing_score=None)
        declined = engine.ask(_BRIDGE_QUESTION)
        assert declined.abstention is not None
        assert declined.abstention.reason == "names_not_found"
        assert declined.abstention.names == ["Dabrowska", "Okafor"]
        engine.config = replace(base, names_missing_score=0.5)
        answered = engine.ask(_BRIDGE_QUESTION)
        assert [x.text for x in answered.quotes] == [_BRIDGE_COST]
        engine.config = replace(base, names_missing_score=0.9999)
        surer = engine.ask(_BRIDGE_QUESTION)
        assert surer.abstention is not None and surer.abstention.reason == "names_not_found"
        assert surer.abstention.best_score == answered.quotes[0].score


def test_a_name_most_passages_hold_does_not_count_in_the_names_check(tmp_path):
    """With `common_name_share`, a name held by more than that share of the passages is left
    out of the names check: the report that answers need not repeat it."""
    from dataclasses import replace

    council = [{"id": f"council-{i}", "title": f"Council notes, week {i}", "publisher": "Courier",
                "published": f"2020-01-{10 + i}T10:00:00Z",
                "text": f"Councillor Dabrowska and Mayor Okafor met residents about {topic}."}
               for i, topic in enumerate(["parking", "libraries", "school meals",
                                          "street lights", "recycling", "allotments"])]
    with _reading_one_passage(tmp_path, [_BRIDGE, *council]) as engine:
        base = engine.config
        engine.config = replace(base, common_name_share=None)
        declined = engine.ask(_BRIDGE_QUESTION)
        assert declined.abstention is not None
        assert declined.abstention.reason == "names_not_found"
        # Dabrowska and Okafor are in 6 of the 7 passages, Norhaven in 1
        base = replace(base, common_name_min_passages=0)
        engine.config = replace(base, common_name_share=0.5)
        answered = engine.ask(_BRIDGE_QUESTION)
        assert [x.text for x in answered.quotes] == [_BRIDGE_COST]
        engine.config = replace(base, common_name_share=0.9)
        assert engine.ask(_BRIDGE_QUESTION).abstention is not None


def test_a_name_is_counted_as_the_full_text_index_holds_its_words(fake_engine, tmp_path):
    """`Store.name_counts` finds names with accents, dots and apostrophes as FTS5 stores them
    (folded, split), so that a common one can be left out of the names check."""
    src = tmp_path / "articles.jsonl"
    src.write_text(json.dumps({"id": "z", "title": "Banks in Zürich", "publisher": "Courier",
                               "text": "Zürich banks and U.S. lenders met O’Brien on Monday."}))
    fake_engine.add_source(str(src), "local")
    total, held = fake_engine.store.name_counts(["Zürich", "U.S", "O’Brien", "Lisbon"])
    if not fake_engine.store.counts_terms:
        assert (total, held) == (0, {})  # PostgreSQL keeps no counts
        return
    assert total == 1 and held == {"Zürich": 1, "U.S": 1, "O’Brien": 1, "Lisbon": 0}
