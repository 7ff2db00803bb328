"""The latest articles, each with a short extractive summary."""

from __future__ import annotations

import math
import re
from collections import Counter

from index.embed import Embedder
from index.models import Citation, Filters, StoredArticle, Summary
from index.passages import sentence_spans
from index.scoring import DEFAULT, ScoringConfig
from index.search import scope_of, search
from index.store import Store
from index.text import STOP_WORDS
from index.timewin import TimeWindow


def summarise(text: str, max_sentences: int = 3, max_words: int = 75) -> list[str]:
    """1-3 sentences of the article, verbatim, in article order.

    Sentences are scored by how many of the article's frequent content words they hold
    (a centroid in word space) with a bonus for coming early, the way news is written.
    """
    spans = [(s, e) for s, e in sentence_spans(text) if len(text[s:e].split()) >= 5]
    if not spans:
        return [text.strip()[:300]] if text.strip() else []
    words = [re.findall(r"[a-z0-9]+", text[s:e].lower()) for s, e in spans]
    freq = Counter(w for ws in words for w in set(ws) if w not in STOP_WORDS and len(w) > 2)
    scores = []
    for i, ws in enumerate(words):
        content = [w for w in ws if w in freq]
        if not content:
            scores.append(0.0)
            continue
        centrality = sum(math.log1p(freq[w]) for w in set(content)) / math.sqrt(len(ws))
        scores.append(centrality * (1.0 + 1.0 / (1 + i)))
    order = sorted(range(len(spans)), key=lambda i: scores[i], reverse=True)
    chosen: list[int] = []
    total = 0
    for i in order:
        n = len(words[i])
        if chosen and (len(chosen) >= max_sentences or total + n > max_words):
            continue
        chosen.append(i)
        total += n
    return [text[spans[i][0] : spans[i][1]] for i in sorted(chosen)]


def latest(store: Store, embedder: Embedder, topic: str | None = None, n: int = 5, *,
           max_sentences: int = 3, config: ScoringConfig = DEFAULT,
           filters: Filters | None = None) -> list[Summary]:
    filters = filters or Filters()
    scope = scope_of(TimeWindow(), filters, None)
    ids: list[str] | None = None
    if topic and topic.strip():
        hits = search(store, embedder, topic, k=max(50, 5 * n), config=config, filters=filters)
        ids = list(dict.fromkeys(h.article.id for h in hits if h.score >= config.topic_min_score))
    articles: list[StoredArticle] = store.latest_articles(
        n, since=scope.since, until=scope.until, ids=ids, sources=scope.sources)
    return [
        Summary(citation=Citation.of(i + 1, a), sentences=summarise(a.text, max_sentences))
        for i, a in enumerate(articles)
    ]
