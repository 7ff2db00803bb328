"""Answers made of verbatim, verified quotes with citations, or an honest abstention."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from index.models import Answer, Citation, Hit, Quote, StoredArticle
from index.passages import sentence_spans
from index.search import search
from index.store import _STOP
from index.timewin import TimeWindow, time_window

log = logging.getLogger(__name__)

MAX_QUOTES = 3
PASSAGES_READ = 6
# Below this cosine between question and best sentence, nothing indexed is on the subject.
# Calibrated in bench/realtimeqa.py (docs/BENCHMARKS.md): answerable questions almost all reach
# it, off-topic ones mostly do not.
MIN_SIMILARITY = 0.42
# At least this share of the question's names must appear in what was retrieved.
MIN_NAME_COVERAGE = 0.5
# Another quote must score at least this share of the best one to be shown.
SECOND_QUOTE_RATIO = 0.85
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "`": "'", "\xa0": " "})
_QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "which", "whose", "whom", "did",
                   "does", "do", "is", "are", "was", "were", "has", "have", "can", "will",
                   "tell", "give", "show", "list", "latest", "news", "the", "a", "an", "in", "on"}


def normalise(text: str) -> str:
    return " ".join(text.translate(_QUOTES).split())


def verify_quote(quote: str, article_text: str) -> bool:
    """A quote may be shown only if it is, after normalising white space and quote marks,
    an exact substring of the stored article text."""
    q = normalise(quote)
    return bool(q) and q in normalise(article_text)


def key_names(question: str) -> list[str]:
    """Names the question turns on: capitalised words that do not merely start a sentence, and
    years. A question about "Lufthansa" is not answered by a passage that never names it."""
    q = re.sub(r"<[^>]+>|https?://\S+", " ", question)
    names: list[str] = []
    sentence_start = True
    for m in re.finditer(r"[A-Za-z0-9][\w’'.-]*|[.!?:;\"“”]", q):
        tok = m.group(0)
        if tok in '.!?:;"“”':
            sentence_start = tok in ".!?:\"“"
            continue
        word = re.sub(r"(['’]s|[.’'-])+$", "", tok)
        starts = sentence_start
        sentence_start = False
        if not word:
            continue
        for part in word.split("-"):
            low = part.lower()
            if not part or low in _QUESTION_WORDS or low in _STOP:
                continue
            is_year = re.fullmatch(r"(19|20)\d\d", part) is not None
            if is_year or (part[0].isupper() and not starts and not part.isdigit()):
                names.append(part)
    return list(dict.fromkeys(names))


_NUMBER_Q = re.compile(r"\bhow (many|much|long|far|old|big|fast|high)\b|\b(what|which) (number|"
                       r"percentage|share|amount|budget|price|cost|score|total|figure)\b|\bcost\b")
_WHEN_Q = re.compile(r"\bwhen\b|\b(what|which) (date|day|year|month|time)\b")
_WHO_Q = re.compile(r"\bwho(m|se)?\b")
_WHERE_Q = re.compile(r"\bwhere\b|\b(which|what) (city|country|province|region|town|state|place)\b")
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                     r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen)\b", re.I)
_DATE = re.compile(r"\b(19|20)\d\d\b|\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                   r"january|february|march|april|may|june|july|august|september|october|"
                   r"november|december|yesterday|today|week|month)\b", re.I)
# How much a sentence gains for holding the kind of thing the question asks for.
ANSWER_TYPE_BONUS = 0.08


# A sentence's score: its cosine to the question, plus these shares of its passage's search
# score, its term coverage and an answer-type match. Fitted on RealTime QA (docs/BENCHMARKS.md).
PASSAGE_WEIGHT = 0.9
# Weight of the question's terms a sentence holds, each weighted by how rare it is among the
# candidate sentences: the topic words every sentence shares count little, "budget" counts.
COVERAGE_WEIGHT = 0.25


def _term_coverage(question: str, sentences: list[str]) -> list[float]:
    terms = list(dict.fromkeys(
        _stem(t) for t in re.findall(r"\w+", question.lower()) if t not in _STOP))
    if not terms or not sentences:
        return [0.0] * len(sentences)
    present = [[re.search(r"\b" + re.escape(t), s.lower()) is not None for t in terms]
               for s in sentences]
    n = len(sentences)
    df = [sum(row[j] for row in present) for j in range(len(terms))]
    idf = [math.log((n + 1) / (d + 0.5)) for d in df]
    total = sum(idf) or 1.0
    return [sum(w for w, hit in zip(idf, row, strict=True) if hit) / total for row in present]


# What the question asks beyond its article's headline ("budget" in "What budget did Brackenford
# approve for public wifi?" under "Brackenford to switch on free public wifi"): the sentence that
# holds those words is the one that answers, not the lead that restates the headline.
FOCUS_WEIGHT = 0.3


def focus_coverage(question: str, title: str, sentence: str) -> float:
    terms = {_stem(t) for t in re.findall(r"\w+", question.lower())
             if t not in _STOP and t not in _QUESTION_WORDS}
    title_low = title.lower()
    focus = [t for t in terms if not re.search(r"\b" + re.escape(t), title_low)]
    if not focus:
        return 0.0
    low = sentence.lower()
    return sum(1 for t in focus if re.search(r"\b" + re.escape(t), low)) / len(focus)


_DURATION = re.compile(r"\b(second|minute|hour|day|week|month|year|decade)s?\b", re.I)


def answer_type_match(question: str, sentence: str) -> float:
    """1.0 when the sentence holds something new of the kind the question asks for (a number
    for "how many", a name for "who", a date for "when"), else 0."""
    q = question.lower()
    q_words = {w.lower() for w in re.findall(r"\w+", question)}
    novel_caps = [w for w in re.findall(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z][\w-]*", sentence)
                  if w.lower() not in q_words and w.lower() not in _STOP]
    novel_nums = [m.group(0) for m in _NUMBER.finditer(sentence)
                  if m.group(0).lower() not in q_words]
    if re.search(r"\bhow long\b", q):
        return 1.0 if novel_nums and _DURATION.search(sentence) else 0.0
    if _NUMBER_Q.search(q):
        return 1.0 if novel_nums else 0.0
    if _WHEN_Q.search(q):
        return 1.0 if any(m.group(0).lower() not in q_words for m in _DATE.finditer(sentence)) else 0.0
    if _WHO_Q.search(q) or _WHERE_Q.search(q):
        return 1.0 if novel_caps else 0.0
    return 0.0


def _stem(word: str) -> str:
    w = word.lower()
    return w if len(w) <= 4 or any(c.isdigit() for c in w) else w[: max(4, len(w) - 3)]


def mentions(name: str, text: str) -> bool:
    low = text.lower()
    if " " in name:
        return normalise(name.lower()) in normalise(low)
    return re.search(r"\b" + re.escape(_stem(name)), low) is not None


@dataclass
class _Candidate:
    hit: Hit
    text: str  # the sentence as the passage holds it
    start: int  # where the passage says it sits in the article text
    end: int
    score: float = 0.0
    similarity: float = 0.0


def answer(engine, question: str, *, now: datetime | None = None, k: int = PASSAGES_READ,
           max_quotes: int = MAX_QUOTES, min_similarity: float = MIN_SIMILARITY,
           context: str | None = None, after: datetime | None = None) -> Answer:
    """Answer `question` from the index.

    `context` (earlier questions of a conversation) joins the search but not the check that the
    question's names are in what was found; `after` keeps only articles published after it
    (a follow-up asking what happened next).
    """
    question = question.strip()
    window = time_window(question, now)
    if after is not None:
        window = TimeWindow(since=after, until=window.until if window.filters else None,
                            prefer_recent=window.prefer_recent,
                            label=f"after {format_date(after)}")
    query = f"{question} {context}" if context else question
    qv = engine.encode_query(query)
    hits = search(engine, query, k=k, now=now, window=window, query_vector=qv)
    if not hits:
        return _abstain(engine, question, window.label and f"from {window.label}", [])

    names = key_names(question)
    unknown = [n for n in names if not engine.store.mentions_anywhere(n)]
    if unknown:
        return _abstain(engine, question, None, unknown)
    found = [n for n in names
             if any(mentions(n, h.passage.text + " " + h.article.title) for h in hits)]
    # a year the question names must be in what was found, as text or as its date
    years = [n for n in names if re.fullmatch(r"(19|20)\d\d", n) and n not in found and not any(
        h.article.published and h.article.published.year == int(n) for h in hits)]
    if years:
        return _abstain(engine, question, f"from {_join(years)}", [])
    if names and len(found) / len(names) < MIN_NAME_COVERAGE:
        return _abstain(engine, question, None, [n for n in names if n not in found],
                        together=found)

    cands = _sentences(hits)
    sims = engine.embedder.encode([_text(c) for c in cands]) @ qv if cands else np.zeros(0)
    coverage = _term_coverage(question, [_text(c) for c in cands])
    # the passage score picks the article; within it the sentence's own features decide
    article_score: dict[str, float] = {}
    for h in hits:
        article_score[h.article.id] = max(article_score.get(h.article.id, h.score), h.score)
    for c, sim, cov in zip(cands, sims, coverage, strict=True):
        c.similarity = float(sim)
        c.score = (float(sim) + COVERAGE_WEIGHT * cov
                   + PASSAGE_WEIGHT * article_score[c.hit.article.id]
                   + FOCUS_WEIGHT * focus_coverage(question, c.hit.article.title, _text(c))
                   + ANSWER_TYPE_BONUS * answer_type_match(question, _text(c)))
    cands.sort(key=lambda c: c.score, reverse=True)
    if not cands or max(c.similarity for c in cands) < min_similarity:
        return _abstain(engine, question, None, [])

    chosen = [cands[0]]
    outlets = {cands[0].hit.article.publisher}
    texts = {normalise(_text(cands[0]))}
    # a second outlet saying the same thing beats a second quote from the first outlet
    pool = sorted(cands[1:], key=lambda c: (c.hit.article.publisher in outlets, -c.score))
    for c in pool:
        if len(chosen) >= max_quotes:
            break
        if c.score < SECOND_QUOTE_RATIO * cands[0].score:
            continue
        t = normalise(_text(c))
        if t in texts or any(t in x or x in t for x in texts):
            continue
        chosen.append(c)
        texts.add(t)
        outlets.add(c.hit.article.publisher)
    return _compose(engine, question, chosen)


def _text(c: _Candidate) -> str:
    return c.text


def _sentences(hits: list[Hit]) -> list[_Candidate]:
    out: list[_Candidate] = []
    for h in hits:
        p = h.passage
        for s, e in sentence_spans(p.text):
            if len(p.text[s:e].split()) < 4:
                continue
            s, e = _unwrap(p.text, s, e)
            out.append(_Candidate(h, p.text[s:e], p.start + s, p.start + e))
    return out


_OPEN, _CLOSE = "“\"'‘", "”\"'’"


def _unwrap(text: str, s: int, e: int) -> tuple[int, int]:
    """Drop a quote mark that opens or closes the span without its partner inside it, so the
    sentence can be shown in quote marks of our own."""
    body = text[s:e]
    if body and body[0] in _OPEN and not any(c in _CLOSE for c in body[1:]):
        s += 1
    body = text[s:e]
    if body and body[-1] in _CLOSE and not any(c in _OPEN for c in body[:-1]):
        e -= 1
    # a sentence that ends in '", the spokesperson said.' keeps its marks: it is balanced
    return s, e


def _compose(engine, question: str, chosen: list[_Candidate]) -> Answer:
    citations: list[Citation] = []
    by_article: dict[str, int] = {}
    quotes: list[Quote] = []
    # checked against the article text as stored now, not the copy search returned
    stored = engine.store.get_articles(c.hit.article.id for c in chosen)
    for c in chosen:
        art = stored.get(c.hit.article.id)
        if art is None or not verify_quote(c.text, art.text):
            log.warning("dropped a quote that does not match %s", c.hit.article.id)
            continue
        text = c.text
        n = by_article.get(art.id)
        if n is None:
            n = by_article[art.id] = len(citations) + 1
            citations.append(_citation(n, art))
        quotes.append(Quote(text=text, citation=n, article_id=art.id, start=c.start, end=c.end))
    if not quotes:
        return Answer(question=question, abstained=True, answer="No quote could be verified.")
    lines = [f"“{q.text}” [{q.citation}]" for q in quotes]
    lines.append("")
    lines += [format_citation(c) for c in citations]
    return Answer(question=question, abstained=False, answer="\n".join(lines), quotes=quotes,
                  citations=citations)


def _citation(n: int, art: StoredArticle) -> Citation:
    return Citation(n=n, article_id=art.id, title=art.title, source=art.publisher, url=art.url,
                    published=art.published)


def format_date(dt: datetime | None) -> str:
    return dt.strftime("%-d %b %Y") if dt else "date unknown"


def format_citation(c: Citation) -> str:
    parts = [f"[{c.n}] {c.title}", f"{c.source or 'unknown publisher'}, {format_date(c.published)}"]
    line = " — ".join(parts)
    return f"{line} <{c.url}>" if c.url else line


def _abstain(engine, question: str, scope: str | None, missing: list[str],
             together: list[str] | None = None) -> Answer:
    st = engine.store.stats()
    if st["articles"] == 0:
        return Answer(question=question, abstained=True,
                      answer="Nothing is indexed yet: add a source with `newsbot index add`.")
    if missing and together:
        what = f"found mentions {_join(missing)} along with {_join(together, 'and')}"
    elif missing:
        what = "mentions " + _join(missing)
    elif scope:
        what = f"{scope} answers this"
    else:
        what = "answers this question"
    span = ""
    if st["first"] and st["last"]:
        span = f" from {format_date(st['first'])} to {format_date(st['last'])}"
    return Answer(
        question=question, abstained=True,
        answer=f"No indexed article {what}; {st['articles']} articles{span} are indexed.",
    )


def _join(names: list[str], word: str = "or") -> str:
    quoted = [f"“{n}”" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" {word} " + quoted[-1]
