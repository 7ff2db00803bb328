"""Answers made of verbatim, verified quotes with citations, or an honest abstention.

The best passages are found by search; their sentences are the candidates. The answer ranker
(a cross-encoder trained to pick the sentence that answers, `index/ranker.py`) scores each
against the question in one batch; the best sentence is the first quote. Another quote is
shown only when it adds something: another article confirming, or a sentence that answers as
surely as the first. When no sentence scores high enough, the answer abstains and says why.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from index.embed import Embedder
from index.models import (
    Abstention,
    AbstentionReason,
    Answer,
    Citation,
    Claim,
    Disagreement,
    Filters,
    Hit,
    Quote,
    StoredArticle,
)
from index.passages import sentence_spans
from index.ranker import SentenceRanker, sentence_contexts
from index.scoring import DEFAULT, ScoringConfig
from index.search import embed_soon, scope_of, search
from index.store import Store
from index.stories import STORY_DAYS, differing_figures, has_figure, within_days
from index.text import (
    content_terms,
    format_date,
    is_year,
    key_names,
    mentions,
    normalise,
    stem,
    tokens,
    verify_quote,
)
from index.timewin import TimeWindow, time_window

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    hit: Hit
    text: str  # the sentence as the passage holds it
    start: int  # where it sits in the article text
    end: int
    context: str = ""  # the headline and the sentence before, for the ranker
    ranker: float = 0.0
    score: float = 0.0


def answer(store: Store, embedder: Embedder, ranker: SentenceRanker | None, question: str, *,
           config: ScoringConfig = DEFAULT, filters: Filters | None = None,
           now: datetime | None = None, context: str | None = None,
           after: datetime | None = None, news: bool = False) -> Answer:
    """Answer `question` from the index.

    `context` (earlier questions of a conversation) joins the search but not the check that the
    question's names are in what was found; `after` keeps only articles published after it
    (a follow-up asking what happened next); `news` says the question asks for news rather
    than one fact, so no sentence has to answer it surely.
    """
    question = question.strip()
    filters = filters or Filters()
    window = time_window(question, now or filters.as_of)
    if after is not None:
        window = TimeWindow(since=after, until=window.until if window.filters else None,
                            prefer_recent=window.prefer_recent,
                            label=f"after {format_date(after)}")
    query = f"{question} {context}" if context else question
    pending = embed_soon(embedder, query)
    hits = search(store, embedder, query, k=config.passages_read, config=config, now=now,
                  window=window, filters=filters, query_vector=pending)
    qv = pending.result()
    labels = [window.label] if window.filters and window.label else []
    if filters.any:
        labels.append(_filters_label(filters))
    period = " and ".join(labels) or None
    if not hits:
        return _abstain(store, filters, question, "period" if period else "no_answer",
                        period=period)

    names = key_names(question)
    unknown = [n for n in names if not store.mentions_anywhere(n, filters.visible)]
    if unknown:
        return _abstain(store, filters, question, "unknown_names", names=unknown)
    found = [n for n in names
             if any(mentions(n, h.passage.text + " " + h.article.title) for h in hits)]
    # a year the question names must be in what was found, as text or as its date
    years = [n for n in names if is_year(n) and n not in found and not any(
        h.article.published and h.article.published.year == int(n) for h in hits)]
    if years:
        return _abstain(store, filters, question, "period", names=years)
    # a name in many passages ("US", "Senate", "Wednesday") says little about which report
    # answers, and the answering one often leaves it out: only the others must be found
    total, held = (store.name_counts(names) if config.common_name_share is not None
                   else (0, {}))
    common = max((config.common_name_share or 0.0) * total, config.common_name_min_passages)
    telling = [n for n in names if held.get(n, 0) <= common]
    missing = [n for n in telling if n not in found]
    names_short = bool(telling) and len(telling) - len(missing) < (
        config.min_name_coverage * len(telling))
    if names_short and (config.names_missing_score is None or ranker is None):
        return _abstain(store, filters, question, "names_not_found", period=period,
                        names=missing, found_with=found)

    cands = candidates(widen(store, hits, config.whole_articles))
    if not cands:
        return _abstain(store, filters, question, "no_answer", period=period)
    cands = score_candidates(cands, question, qv, ranker, embedder, hits, config)
    cands.sort(key=lambda c: c.score, reverse=True)
    bar = config.min_answer_score if ranker is not None else config.min_similarity
    if news or window.prefer_recent or after is not None:
        # "what is the latest on X?", "and what happened next?" ask for news, not for one fact
        # a sentence must hold: the names check above keeps them on the subject
        bar = 0.0
    if names_short:  # only a sentence that surely answers makes up for the names missing
        bar = max(bar, config.names_missing_score or 0.0)
    best = max(c.ranker for c in cands)
    if best < bar and names_short:
        return _abstain(store, filters, question, "names_not_found", period=period,
                        names=missing, found_with=found, best_score=best)
    if best < bar:
        return _abstain(store, filters, question, "no_answer", period=period, best_score=best)
    result = _compose(store, filters, question, _choose(cands, config, bar))
    if not result.abstained:
        corroborate(store, filters, result, now)
    return result


def corroborate(store: Store, filters: Filters, result: Answer,
                now: datetime | None = None) -> None:
    """Within each quote's story (as the asker sees it): other outlets whose article says the
    same sentence verbatim are cited beside it ("[1][2]"), and an outlet that says it with
    another figure is shown as a disagreement, both sides quoted and cited."""
    arts = store.get_articles(q.article_id for q in result.quotes)
    stories = {a.story_id for a in arts.values()}
    scope = scope_of(TimeWindow(), filters, now)  # nothing published after `as_of`
    members = store.story_members(sorted(stories), filters.visible, until=scope.until)
    by_article = {c.article_id: c.n for c in result.citations}

    def cite(a: StoredArticle) -> int:
        if a.id not in by_article:
            by_article[a.id] = len(result.citations) + 1
            result.citations.append(Citation.of(by_article[a.id], a))
        return by_article[a.id]

    flagged: set[str] = set()  # sentences already in a disagreement

    def flag(q: Quote, own: StoredArticle, text: str, other: StoredArticle) -> bool:
        figures = differing_figures(q.text, text)
        if figures is None:
            return False
        flagged.update({normalise(q.text), normalise(text)})
        result.disagreements.append(Disagreement(about=figures.about, claims=[
            Claim(figures.ours, q.text, q.citation, own.publisher),
            Claim(figures.theirs, text, cite(other), other.publisher)]))
        return True

    for q in result.quotes:
        own = arts.get(q.article_id)
        if own is None:
            continue
        outlets = {own.publisher}
        for m in members.get(own.story_id, []):
            if m.id == own.id or m.publisher in outlets:
                continue
            if verify_quote(q.text, m.text):
                outlets.add(m.publisher)
                q.also.append(cite(m))
                continue
            # reports days apart may differ because the news moved on (a toll that rose)
            if normalise(q.text) in flagged or not has_figure(q.text) \
                    or not within_days(own.published, m.published, STORY_DAYS):
                continue
            for s, e in sentence_spans(m.text):
                if flag(q, own, m.text[s:e], m):
                    outlets.add(m.publisher)
                    break


def widen(store: Store, hits: list[Hit], articles: int) -> list[Hit]:
    """The best passages, then the other passages of the best `articles` articles: the
    sentence that answers is often in a passage of the right article that search ranked
    lower than one restating the headline."""
    out = list(hits)
    have = {h.passage.id for h in hits}
    best: dict[str, Hit] = {}
    for h in hits:
        best.setdefault(h.article.id, h)
    for aid in list(best)[:articles]:
        for p in store.passages_of_article(aid):
            if p.id not in have:
                b = best[aid]
                out.append(Hit(passage=p, article=b.article, score=b.score, dense=b.dense,
                               lexical=b.lexical))
    return out


def candidates(hits: list[Hit]) -> list[Candidate]:
    """The sentences of the passages found, each once, with their offsets in the article."""
    out: list[Candidate] = []
    seen: set[tuple[str, int]] = set()
    for h in hits:
        p = h.passage
        spans = p.sentences or sentence_spans(p.text)  # found at index time, if stored
        contexts = sentence_contexts([p.text[s:e] for s, e in spans], h.article.title)
        for (s, e), context in zip(spans, contexts, strict=True):
            if len(p.text[s:e].split()) < 4:
                continue
            s, e = _unwrap(p.text, s, e)
            key = (h.article.id, p.start + s)
            if key in seen:
                continue
            seen.add(key)
            out.append(Candidate(h, p.text[s:e], p.start + s, p.start + e, context))
    return out


def score_candidates(cands: list[Candidate], question: str, qv: np.ndarray,
                     ranker: SentenceRanker | None, embedder: Embedder, hits: list[Hit],
                     config: ScoringConfig) -> list[Candidate]:
    """The candidates scored: the ranker decides within an article; the article's retrieval
    score helps between articles. The ranker reads only a short list of them (`shortlist`);
    without a ranker, every sentence's cosine to the question stands in."""
    article_score = article_scores(hits)
    if ranker is not None:
        cands = shortlist(cands, question, article_score, config)
        scores = ranker.score(question, [c.text for c in cands], [c.context for c in cands])
    else:
        scores = embedder.encode([c.text for c in cands]) @ qv
    for c, r in zip(cands, scores, strict=True):
        c.ranker = float(r)
        c.score = c.ranker + config.retrieval_weight * article_score[c.hit.article.id]
    return cands


def article_scores(hits: list[Hit]) -> dict[str, float]:
    """Each article's best passage score among the hits."""
    out: dict[str, float] = {}
    for h in hits:
        out[h.article.id] = max(out.get(h.article.id, h.score), h.score)
    return out


def shortlist(cands: list[Candidate], question: str, article_score: dict[str, float],
              config: ScoringConfig) -> list[Candidate]:
    """The `config.ranker_shortlist` candidates most worth the ranker's time (it costs a few
    milliseconds a sentence): by their article's retrieval score, as the final score weighs it,
    plus the share of the question's words (weighed by how rare they are among the candidates)
    the sentence or, at `shortlist_neighbour` of its weight, the sentence before it holds; the
    answer often follows the sentence that names the subject. In their original order."""
    n = config.ranker_shortlist
    if n is None or len(cands) <= n:
        return cands
    terms = {stem(t) for t in content_terms(question)}
    held = [terms.intersection(stem(w) for w in tokens(c.text)) for c in cands]
    df = Counter(t for h in held for t in h)
    idf = {t: math.log(1 + len(cands) / df[t]) for t in df}
    whole = sum(idf.values()) or 1.0
    lex = [sum(idf[t] for t in h) / whole for h in held]
    prior = []
    for i, c in enumerate(cands):
        near = lex[i - 1] if i and cands[i - 1].hit.passage.id == c.hit.passage.id else 0.0
        prior.append(config.retrieval_weight * article_score[c.hit.article.id]
                     + max(lex[i], config.shortlist_neighbour * near))
    keep = sorted(sorted(range(len(cands)), key=lambda i: -prior[i])[:n])
    return [cands[i] for i in keep]


def _choose(cands: list[Candidate], config: ScoringConfig, bar: float) -> list[Candidate]:
    """The best sentence, then others only where they add something: another article saying
    it (confirmation, other outlets first), or a sentence of the same article that answers as
    surely as the first (another part of the answer). Never a filler sentence."""
    first = cands[0]
    chosen = [first]
    texts = {normalise(first.text)}
    need = max(bar, config.second_quote_ratio * first.ranker)
    outlets = {first.hit.article.publisher}
    pool = sorted(cands[1:], key=lambda c: (c.hit.article.publisher in outlets, -c.score))
    for c in pool:
        if len(chosen) >= config.max_quotes:
            break
        if c.ranker < need:
            continue
        if any(_copies(c.hit.article, x.hit.article) for x in chosen):
            continue  # a copy of a report already quoted confirms nothing
        same_article = any(c.hit.article.id == x.hit.article.id for x in chosen)
        if same_article and c.ranker < first.ranker:
            continue
        t = normalise(c.text)
        if any(t in x or x in t for x in texts):
            continue
        chosen.append(c)
        texts.add(t)
        outlets.add(c.hit.article.publisher)
    return chosen


def _copies(a: StoredArticle, b: StoredArticle) -> bool:
    """Whether two different articles are copies of one report."""
    if a.id == b.id:
        return False
    return a.copy_of == b.id or b.copy_of == a.id or (a.copy_of is not None
                                                     and a.copy_of == b.copy_of)


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


def _compose(store: Store, filters: Filters, question: str, chosen: list[Candidate]) -> Answer:
    citations: list[Citation] = []
    by_article: dict[str, int] = {}
    quotes: list[Quote] = []
    # checked against the article text as stored now, not the copy search returned
    stored = store.get_articles(c.hit.article.id for c in chosen)
    for c in chosen:
        art = stored.get(c.hit.article.id)
        if art is None or not verify_quote(c.text, art.text):
            log.warning("dropped a quote that does not match %s", c.hit.article.id)
            continue
        n = by_article.get(art.id)
        if n is None:
            n = by_article[art.id] = len(citations) + 1
            citations.append(Citation.of(n, art))
        quotes.append(Quote(text=c.text, citation=n, article_id=art.id, start=c.start, end=c.end,
                            score=round(c.ranker, 4)))
    if not quotes:
        return _abstain(store, filters, question, "unverified")
    return Answer(question=question, quotes=quotes, citations=citations)


def _abstain(store: Store, filters: Filters, question: str, reason: AbstentionReason, *,
             names: list[str] | None = None, found_with: list[str] | None = None,
             period: str | None = None, best_score: float | None = None) -> Answer:
    # what the asker sees, not other servers' news
    st = store.stats(filters.visible, passages=False)
    if st.articles == 0:
        reason = "empty_index"
    return Answer(question=question, abstention=Abstention(
        reason=reason, names=names or [], found_with=found_with or [], period=period,
        articles=st.articles, first=st.first, last=st.last,
        best_score=None if best_score is None else round(best_score, 4)))


def _filters_label(f: Filters) -> str:
    parts = []
    if f.since:
        parts.append(f"since {format_date(f.since)}")
    if f.until:
        parts.append(f"before {format_date(f.until)}")
    if f.as_of:
        parts.append(f"as of {format_date(f.as_of)}")
    if f.sources:
        parts.append("in " + ", ".join(f.sources))
    return " ".join(parts)
