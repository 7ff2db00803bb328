"""The shipped answer ranker: the sentence that answers comes first, and a question on the
subject that the articles do not answer is declined. Hand-written cases over the team's demo
corpus and the real Sputnik article."""

from __future__ import annotations

import pytest

from index.ranker import Ranker
from tests.conftest import SHARED, make_engine, ranker, text

pytestmark = pytest.mark.slow

# Cases the shipped ranker still gets wrong: it prefers a sentence that restates the question's
# names over one that answers in other words. Strict: when a better model fixes one, the test
# says so and the mark must go.
KNOWN_MISS = pytest.mark.xfail(strict=True, reason="the shipped ranker prefers the sentence "
                                                   "that restates the names (issue 8, open)")


@KNOWN_MISS
def test_the_ranker_prefers_the_sentence_that_answers():
    r = ranker()
    assert isinstance(r, Ranker)
    q = "Did Russia and Turkey agree to keep talking about Idlib?"
    lead = ("Russia and Turkey held talks in Ankara, discussing the situation in Syria's Idlib "
            "and steps to advance the political process in Syria.")
    answer = "It was decided to continue negotiations next week."
    headline = "Russia, Turkey Discussed Situation in Syria's Idlib"
    before = ("The negotiations focused on the situation in Syria's Idlib, as well as steps to "
              "advance political process in Syria.")
    s_lead, s_answer = r.score(q, [lead, answer], [headline, f"{headline} {before}"])
    assert s_answer > s_lead
    assert 0.0 <= s_lead <= 1.0 and 0.0 <= s_answer <= 1.0


@pytest.mark.parametrize(("question", "fact"), [
    ("Who manages Harbour Town Rovers?", "Helen Szabo"),
    ("Which company won the contract for the Brackenford wifi network?", "Lanterna Networks"),
    ("How much will Saltmere spend on extending its North Quay?", "260 million euros"),
    ("Did the Russian and Turkish diplomats agree to keep talking after Ankara?", "agreed to"),
    ("What stopped the dendrites in the Aldercombe zinc battery?", "coating"),
])
def test_the_first_quote_is_the_answering_sentence(demo_engine, question, fact):
    a = demo_engine.ask(question)
    assert not a.abstained, text(a)
    assert fact in a.quotes[0].text, text(a)
    assert len(a.quotes) <= 3


@pytest.mark.parametrize("question", [
    pytest.param("Which industrial partner will build the Aldercombe zinc battery pouch cells?",
                 marks=KNOWN_MISS),
    "How much did a ticket for the Coastal Cup final cost?",
])
def test_an_on_topic_question_the_articles_do_not_answer_is_declined(demo_engine, question):
    a = demo_engine.ask(question)
    assert a.abstained, text(a)
    assert a.abstention is not None and a.abstention.reason == "no_answer"
    assert "answers this question" in text(a)


@pytest.fixture(scope="module")
def sputnik(tmp_path_factory, model):
    path = SHARED / "idlib_talks_sputnik.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent: the public corpora live in ../shared/data")
    engine = make_engine(tmp_path_factory.mktemp("sputnik"), model)
    engine.add_source(str(path), "sputnik")
    yield engine
    engine.close()


@pytest.mark.parametrize(("question", "sentence"), [
    pytest.param("Did Russia and Turkey agree to keep talking about Idlib?",
                 "It was decided to continue negotiations next week", marks=KNOWN_MISS),
    pytest.param("Which agencies were represented in the delegations at the Ankara negotiations?",
                 "The delegations included representatives of the two countries' foreign "
                 "ministries", marks=KNOWN_MISS),
])
def test_sputnik_quotes_the_sentence_that_answers(sputnik, question, sentence):
    a = sputnik.ask(question)
    assert not a.abstained, text(a)
    assert sentence in a.quotes[0].text, text(a)
    assert a.citations[0].source == "Sputnik"


@KNOWN_MISS
def test_sputnik_declines_what_it_does_not_say(sputnik):
    a = sputnik.ask("How many Turkish soldiers were killed by the Syrian government attack in "
                    "Idlib?")
    assert a.abstained, text(a)


def test_a_question_embeds_alone_as_it_would_in_a_batch(model):
    """A single text (a question) runs on a one-thread session of its own, batches on the
    indexing one: both give the same vector, and it finds the passage it paraphrases."""
    question = "Did Russia and Turkey agree to keep talking about Idlib?"
    passages = ["Russian and Turkish officials will hold more talks on Idlib next week.",
                "The library opens until ten at night from March."]
    alone = model.encode([question])[0]
    batch = model.encode([question, *passages])
    assert float(alone @ batch[0]) > 0.99
    assert sorted(model._sessions) == [1, model.threads]
    assert float(alone @ batch[1]) > float(alone @ batch[2]) + 0.1
