"""Optional generative phrasing through an OpenAI-compatible endpoint (LLM_BASE_URL, LLM_MODEL).

The model only phrases: it sees the verified quotes, numbered, and must end every sentence with
the number of the quote it rests on. A sentence that cites nothing, or a number that is not one of
the quotes, is dropped; if nothing is left, the extractive answer stands alone. The quotes shown
under the phrasing are still the verified, verbatim ones.
"""

from __future__ import annotations

import logging
import re

import httpx

from index.models import Answer
from index.passages import sentence_spans

log = logging.getLogger(__name__)

SYSTEM = (
    "You answer questions about the news using only the numbered quotes given. Write one to three "
    "short sentences. End every sentence with the number of the quote it is based on, like [1]. "
    "Do not add facts that are not in the quotes. If the quotes do not answer, say so."
)
_CITE = re.compile(r"\[(\d+)\]\s*[.!?]?[\"”’)]*\s*$")


def phrase(answer: Answer, base_url: str, model: str, api_key: str | None = None,
           timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> str | None:
    """One to three sentences, each citing one of the answer's quotes, or None."""
    if answer.abstained or not answer.quotes:
        return None
    numbered = "\n".join(f"[{q.citation}] {q.text}" for q in answer.quotes)
    body = {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Quotes:\n{numbered}\n\nQuestion: {answer.question}"},
        ],
    }
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            resp = client.post(base_url.rstrip("/") + "/chat/completions", json=body,
                               headers=headers)
            resp.raise_for_status()
            text = str(resp.json()["choices"][0]["message"]["content"]).strip()
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        log.warning("LLM phrasing failed, keeping the extractive answer: %s", exc)
        return None
    valid = {q.citation for q in answer.quotes}
    kept = []
    for s, e in sentence_spans(text):
        sentence = text[s:e]
        m = _CITE.search(sentence)
        if m and int(m.group(1)) in valid:
            kept.append(sentence)
    return " ".join(kept) or None
