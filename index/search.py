"""Hybrid search: dense (Chroma) and lexical (SQLite FTS5 BM25), fused by weighted score."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

import numpy as np

from index.embed import Embedder
from index.models import Filters, Hit
from index.ranker import SentenceRanker
from index.scoring import DEFAULT, ScoringConfig
from index.store import Store, porter, ts
from index.text import content_terms
from index.timewin import TimeWindow, time_window

Mode = Literal["hybrid", "dense", "lexical"]
T = TypeVar("T")


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


# The question is embedded, and its nearest passages found, on one of these threads while the
# full-text query runs on the caller's: each waits mostly outside the GIL (ONNX Runtime, Chroma,
# SQLite), so a search costs about the longer of the two, not their sum (bench/latency.py: the
# embedding is 3 to 5 ms, the nearest 1 to 2, the full-text query 4 to 12).
_EMBEDDING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="newsbot-embed")


def embed_soon(embedder: Embedder, text: str) -> Future[np.ndarray]:
    """The vector of `text`, computed on another thread."""
    return _EMBEDDING.submit(lambda: embedder.encode([text])[0])


def _ready(value: T) -> Future[T]:
    done: Future[T] = Future()
    done.set_result(value)
    return done


def _then(vector: Future[np.ndarray], work: Callable[[np.ndarray], T]) -> Future[T]:
    """`work(vector)` run as soon as the vector is ready, on the thread that made it (nothing
    waits on a worker for another job, so a busy pool cannot deadlock)."""
    out: Future[T] = Future()

    def run(done: Future[np.ndarray]) -> None:
        try:
            out.set_result(work(done.result()))
        except BaseException as exc:  # (delivered to whoever waits on `out`)
            out.set_exception(exc)

    vector.add_done_callback(run)
    return out


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
    nearest = None
    if mode in ("hybrid", "dense"):
        # the question is embedded and its nearest vectors found on another thread, while the
        # full-text query runs on this one
        pending = query_vector if query_vector is not None else embed_soon(embedder, question)
        if not isinstance(pending, Future):
            pending = _ready(pending)
        nearest = _then(pending, lambda v: (v, store.dense(v, n, scope.since, scope.until,
                                                           scope.sources)))
    if mode in ("hybrid", "lexical"):
        lexical = dict(store.lexical(question, n, scope.since, scope.until, scope.sources,
                                     max_terms=config.lexical_terms,
                                     max_postings=config.lexical_postings))
    if nearest is not None:
        qv, found = nearest.result()
        dense = dict(found)
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
    if not idf:
        return {}
    # Only the words that begin as some question stem does are read and stemmed: Porter rewrites
    # a word's ending only, so its stem keeps its first two letters, but for a final "y" turned
    # "i" ("eyed" is "ei"). Tokenising every word of ~100 candidates cost twice as much.
    heads = {t[:2] for t in idf} | {t[0] + "y" for t in idf if t[1:2] == "i"}
    alternatives = "|".join(sorted(map(re.escape, heads)))
    words = re.compile(rf"\b(?:{alternatives})\w*")
    out: dict[str, float] = {}
    for pid, text in texts.items():
        low = text.lower()
        counts = Counter(s for w in words.findall(low) if (s := porter(w)) in idf)
        if not counts:
            continue
        # its length in words as the mean counts them (spaces, Store.term_stats)
        norm = k1 * (1 - b + b * (low.count(" ") + 1) / mean)
        out[pid] = sum(idf[t] * c * (k1 + 1) / (c + norm) for t, c in counts.items())
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
