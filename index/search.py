"""Hybrid search: dense (Chroma) and lexical (SQLite FTS5 BM25), fused by weighted score."""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np

from index.embed import Embedder
from index.models import Filters, Hit
from index.ranker import SentenceRanker
from index.scoring import DEFAULT, ScoringConfig
from index.store import Store, porter, ts
from index.text import content_terms, tokens
from index.timewin import TimeWindow, time_window

Mode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class Scope:
    """What a search may see: a publication window and, optionally, some sources only."""

    since: float | None = None
    until: float | None = None
    sources: tuple[str, ...] = ()


def scope_of(window: TimeWindow, filters: Filters, now: datetime | None) -> Scope:
    """The hard limits: relative time words in the question, the filters given, and `as_of`
    (or an explicit `now`), which hides what was published after that day."""
    since, until = (ts(window.since), ts(window.until)) if window.filters else (None, None)
    if filters.since is not None:
        since = max(since, filters.since.timestamp()) if since else filters.since.timestamp()
    ends = [filters.until.timestamp()] if filters.until else []
    if filters.as_of is not None:
        ends.append(_end_of_day(filters.as_of).timestamp())
    if now is not None:
        ends.append((now + timedelta(days=1)).timestamp())
    if ends:
        until = min([until, *ends]) if until is not None else min(ends)
    return Scope(since, until, tuple(filters.keys or filters.sources))


def _end_of_day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


# The question is embedded on one of these threads while the full-text query runs on the
# caller's: both wait outside the GIL (ONNX Runtime, SQLite), so a search costs the longer of
# the two, not their sum (bench/latency.py: the embedding is 3 to 5 ms, the query 4 to 12).
_EMBEDDING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="newsbot-embed")


def embed_soon(embedder: Embedder, text: str) -> Future[np.ndarray]:
    """The vector of `text`, computed on another thread."""
    return _EMBEDDING.submit(lambda: embedder.encode([text])[0])


def search(store: Store, embedder: Embedder, question: str, k: int = 10, *,
           config: ScoringConfig = DEFAULT, now: datetime | None = None,
           window: TimeWindow | None = None, filters: Filters | None = None,
           mode: Mode = "hybrid", query_vector: np.ndarray | Future[np.ndarray] | None = None,
           recency: bool = True, lexical_weight: float | None = None,
           ranker: SentenceRanker | None = None) -> list[Hit]:
    """The k best passages for `question`.

    `now` is when the question is asked (default: the present, or `filters.as_of`). Given
    explicitly, it also hides articles published after it: the index as it stood then. Newer
    articles get a small boost (`recency`), a larger one when the question asks for the latest.
    """
    filters = filters or Filters()
    explicit_now = now
    now = now or (_end_of_day(filters.as_of) if filters.as_of else datetime.now(UTC))
    window = window if window is not None else time_window(question, now)
    scope = scope_of(window, filters, explicit_now)
    soft = None if window.filters or (window.since is None and window.until is None) else window
    lw = config.lexical_weight if lexical_weight is None else lexical_weight
    n = max(config.candidates, 3 * k)
    dense: dict[str, float] = {}
    lexical: dict[str, float] = {}
    qv = None
    pending = None
    if mode in ("hybrid", "dense"):
        pending = query_vector if query_vector is not None else embed_soon(embedder, question)
    if mode in ("hybrid", "lexical"):  # (while the question is embedded)
        lexical = dict(store.lexical(question, n, scope.since, scope.until, scope.sources,
                                     max_terms=config.lexical_terms,
                                     max_postings=config.lexical_postings))
    if pending is not None:
        qv = pending.result() if isinstance(pending, Future) else pending
        dense = dict(store.dense(qv, n, scope.since, scope.until, scope.sources))
    ids = list(dict.fromkeys([*dense, *lexical]))
    passages = store.get_passages(ids)  # the manifest: vectors without a row are not shown
    ids = [i for i in ids if i in passages]
    if not ids:
        return []
    if mode == "hybrid":
        missing_dense = [i for i in ids if i not in dense]
        if missing_dense and qv is not None:
            for pid, vec in store.vectors(missing_dense).items():
                dense[pid] = float(np.dot(vec, qv))
        if config.lexical_terms is not None or config.lexical_postings is not None:
            # the rare words found candidates; every candidate is scored by the whole question
            lexical = (bm25(store, question, {i: passages[i].text for i in ids})
                       if store.counts_terms else store.lexical_scores(question, ids))
        else:
            missing_lex = [i for i in ids if i not in lexical]
            if missing_lex:
                lexical.update(store.lexical_scores(question, missing_lex))
    top_lex = max(lexical.values(), default=0.0) or 1.0
    articles = store.get_articles(p.article_id for p in passages.values())
    boost = config.recency_weight if recency else 0.0
    newest = None
    if window.prefer_recent and dense:
        # "latest" is relative to what the index has on the subject, not to the calendar
        bar = max(dense.values()) - config.latest_relevance_margin
        dates = [articles[passages[i].article_id].published for i in ids
                 if dense.get(i, 0.0) >= bar and passages[i].article_id in articles]
        newest = max((d for d in dates if d), default=None)
    hits = []
    for pid in ids:
        p = passages[pid]
        art = articles.get(p.article_id)
        if art is None:
            continue
        d = dense.get(pid, 0.0)
        lx = lexical.get(pid, 0.0) / top_lex
        if mode == "dense":
            score = d
        elif mode == "lexical":
            score = lx
        else:
            score = d + lw * lx
        if soft and art.published and (soft.since is None or art.published >= soft.since) and (
            soft.until is None or art.published < soft.until
        ):
            score += config.window_boost
        if boost and art.published:
            age = max((now - art.published).total_seconds() / 86400, 0.0)
            score += boost * 2 ** (-age / config.recency_half_life_days)
        if newest and art.published:
            age = max((newest - art.published).total_seconds() / 86400, 0.0)
            score += config.latest_weight * 2 ** (-age / config.latest_half_life_days)
        hits.append(Hit(passage=p, article=art, score=score, dense=d, lexical=lx))
    hits.sort(key=lambda h: h.score, reverse=True)
    if ranker is not None and config.search_rerank_weight > 0:
        hits = rerank(hits, question, ranker, config.search_rerank_weight,
                      config.search_rerank_depth)
    return hits[:k]


def bm25(store: Store, question: str, texts: dict[str, str], k1: float = 1.2,
         b: float = 0.75) -> dict[str, float]:
    """BM25 of some passages under the question's content words, as FTS5 would give it, with
    the index's statistics (`Store.term_stats`) and the passages' own words (porter stems)."""
    terms = list(dict.fromkeys(porter(t) for t in content_terms(question)))
    n, mean, df = store.term_stats(terms)
    idf = {t: max(1e-6, math.log((n - df[t] + 0.5) / (df[t] + 0.5))) for t in terms if t in df}
    out: dict[str, float] = {}
    docs = {pid: tokens(text) for pid, text in texts.items()}
    # the candidates' distinct words stemmed once, those that are question words kept (a
    # Porter stem keeps its word's first letter: the others are not stemmed at all)
    initials = {t[0] for t in idf}
    held = {w: s for w in set().union(*docs.values())
            if w[0] in initials and (s := porter(w)) in idf}
    for pid, words in docs.items():
        counts: Counter[str] = Counter()
        for word in held.keys() & set(words):
            counts[held[word]] += words.count(word)
        norm = k1 * (1 - b + b * len(words) / mean)
        score = sum(idf[t] * c * (k1 + 1) / (c + norm) for t, c in counts.items())
        if score > 0:
            out[pid] = score
    return out


def rerank(hits: list[Hit], question: str, ranker: SentenceRanker, weight: float,
           depth: int) -> list[Hit]:
    """Add `weight` times the answer ranker's score of each of the top `depth` passages (with
    its headline as context) to its search score, and sort those again."""
    top = hits[:depth]
    scores = ranker.score(question, [h.passage.text for h in top],
                          [h.article.title for h in top])
    for h, s in zip(top, scores, strict=True):
        h.score += weight * float(s)
    top.sort(key=lambda h: h.score, reverse=True)
    return top + hits[depth:]
