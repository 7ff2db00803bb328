"""The optional generative mode against a local OpenAI-compatible endpoint."""

from __future__ import annotations

import json

import httpx

from index.llm import phrase
from index.models import Answer, Citation, Quote
from tests.conftest import text


def _answer() -> Answer:
    return Answer(
        question="How many flights were cancelled?",
        quotes=[Quote("Schiphol cancelled about 240 flights on Sunday.", 1, "a", 0, 47)],
        citations=[Citation(1, "a", "Storm Ciara", "Courier", "https://x.example/a", None)],
    )


def _endpoint(reply: str, seen: list):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"message": {"content": reply}}]})

    return httpx.MockTransport(handler)


def test_every_phrased_sentence_must_cite_a_quote():
    seen: list = []
    reply = ("Schiphol cancelled about 240 flights [1]. It was the worst storm in decades. "
             "Airlines lost millions [7].")
    answer = _answer()
    answer.phrasing = phrase(answer, "http://llm.local/v1", "m", transport=_endpoint(reply, seen))
    assert answer.phrasing == "Schiphol cancelled about 240 flights [1]."
    shown = text(answer)
    assert shown.split("\n")[0] == "Schiphol cancelled about 240 flights [1]."
    assert "worst storm" not in shown and "millions" not in shown
    # the verified quote is still shown verbatim, with its citation
    assert "“Schiphol cancelled about 240 flights on Sunday.” [1]" in shown
    assert answer.quotes[0].text == "Schiphol cancelled about 240 flights on Sunday."
    assert "[1] Schiphol cancelled about 240 flights on Sunday." in seen[0]["messages"][1]["content"]


def test_an_uncited_reply_leaves_the_extractive_answer():
    assert phrase(_answer(), "http://llm.local/v1", "m", transport=_endpoint("No idea.", [])) is None


def test_a_failing_endpoint_leaves_the_extractive_answer():
    def boom(request):
        return httpx.Response(500)

    assert phrase(_answer(), "http://llm.local/v1", "m", transport=httpx.MockTransport(boom)) is None
