"""The team's questions over BBC articles (train/news_questions.py): every one lies where it
says, and the splits never share an article's text."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SHARED
from train import news_questions as nq

pytestmark = pytest.mark.skipif(not (SHARED / "bbc_news_summary.jsonl").exists(),
                                reason="../shared/data/bbc_news_summary.jsonl is absent")


def test_every_shipped_question_is_valid_and_its_answer_in_one_sentence():
    qs = [q for p in sorted(nq.HERE.glob("*.jsonl")) for q in nq.read(p)]
    assert len(qs) > 1000
    assert [q for q in qs if nq.problems(q)] == []
    answerable = [q for q in qs if q.answer is not None]
    assert all(nq.answering_sentence(q) is not None for q in answerable)
    assert 0.1 < 1 - len(answerable) / len(qs) < 0.4  # on-topic questions left unanswered


def test_the_checker_names_what_is_wrong(tmp_path):
    path = tmp_path / "q.jsonl"
    lines = [{"article": "business/001", "question": "Did profits at TimeWarner rise?",
              "answer": "jumped 76%"},
             {"article": "business/001", "question": "What did Time Warner earn?",
              "answer": "not in the article at all"},
             {"article": "business/001", "question": "Which company did Time Warner name?",
              "answer": "TimeWarner"},  # in several sentences
             {"article": "nowhere/001", "question": "Who?", "answer": None}]
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    found = [nq.problems(q) for q in nq.read(path)]
    assert found[0] == []
    assert "not verbatim" in found[1][0]
    assert "sentences" in found[2][0]
    assert "no article" in found[3][0]


def test_splits_go_by_article_and_copies_of_one_text_share_a_split():
    assert nq.split_of("sport/010") == "report" and nq.split_of("sport/011") == "tune"
    assert nq.split_of("sport/012") == "train"
    by_text: dict[str, set[str]] = {}
    for aid, d in nq.articles().items():
        by_text.setdefault(d["body"].strip(), set()).add(nq.split_of(aid))
    assert all(len(s) == 1 for s in by_text.values())
    # sport/020 is a copy of sport/012: it would be "report" by its own number
    assert nq.articles()["sport/020"]["body"].strip() == nq.articles()["sport/012"]["body"].strip()
    assert nq.split_of("sport/020") == "train"
