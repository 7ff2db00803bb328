"""The latest stories, each with a short extractive summary, and a topic's timeline."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace

from index.embed import Embedder
from index.models import Citation, Filters, Quote, StoredArticle, Summary, Timeline, TimelineEntry
from index.passages import sentence_spans
from index.scoring import DEFAULT, ScoringConfig
from index.search import scope_of, search
from index.store import Store
from index.text import STOP_WORDS, key_names, mentions, normalise, verify_quote
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


def topic_articles(store: Store, embedder: Embedder, topic: str, k: int, *,
                   config: ScoringConfig = DEFAULT, filters: Filters | None = None) -> list[str]:
    """Ids of the articles about `topic`, best first: found by search above the topic bar, and
    naming every name the topic gives ("Idlib talks": the article names Idlib). Fewer articles
    beat unrelated ones."""
    names = key_names("about " + topic)  # a topic is not a sentence: its first word may be a name
    hits = search(store, embedder, topic, k=k, config=config, filters=filters)
    return list(dict.fromkeys(
        h.article.id for h in hits if h.score >= config.topic_min_score
        and all(mentions(n, f"{h.article.title} {h.article.text}") for n in names)))


def latest(store: Store, embedder: Embedder, topic: str | None = None, n: int = 5, *,
           max_sentences: int = 3, config: ScoringConfig = DEFAULT,
           filters: Filters | None = None) -> list[Summary]:
    """The latest stories, newest first: each story once, summarised from its first report,
    with the other outlets that carry it."""
    filters = filters or Filters()
    scope = scope_of(TimeWindow(), filters, None)
    ids: list[str] | None = None
    if topic and topic.strip():
        ids = topic_articles(store, embedder, topic, max(50, 5 * n), config=config,
                             filters=filters)
    articles: list[StoredArticle] = store.latest_articles(
        4 * n + 10, since=scope.since, until=scope.until, ids=ids, sources=scope.sources)
    order = list(dict.fromkeys(a.story_id for a in articles))[:n]
    members = store.story_members(order, scope.sources, scope.since, scope.until)
    out = []
    for i, story in enumerate(order):
        group = members.get(story) or [a for a in articles if a.story_id == story]
        first = representative(group)
        outlets = {first.publisher}
        also = []
        for a in group:
            if a.publisher not in outlets:
                outlets.add(a.publisher)
                also.append(Citation.of(i + 1, a))
        dates = [a.published for a in group if a.published]
        out.append(Summary(citation=Citation.of(i + 1, first),
                           sentences=summarise(first.text, max_sentences), also=also,
                           first=min(dates, default=None), last=max(dates, default=None)))
    return out


def representative(group: list[StoredArticle]) -> StoredArticle:
    """A story's first report that is not a copy of another one shown (oldest first)."""
    ids = {a.id for a in group}
    return next((a for a in group if a.copy_of not in ids), group[0])


def timeline(store: Store, embedder: Embedder, topic: str, n: int = 10, *,
             config: ScoringConfig = DEFAULT, filters: Filters | None = None) -> Timeline:
    """The dated reports on `topic` in date order (the latest `n`), each told by its key
    sentence, verbatim and cited; a sentence two outlets share is shown once and cites both."""
    result = Timeline(topic=topic)
    ids = topic_articles(store, embedder, topic, max(50, 5 * n), config=config, filters=filters)
    arts = store.get_articles(ids)
    # a timeline is of dated reports: an article whose source gave no date has no place in it
    dated = sorted((a for a in arts.values() if a.copy_of not in arts and a.published),
                   key=lambda a: (a.published, a.id))
    shown: dict[str, TimelineEntry] = {}
    for a in dated:
        sentence = next(iter(summarise(a.text, max_sentences=1)), "")
        start = a.text.find(sentence) if sentence else -1
        if start < 0 or not verify_quote(sentence, a.text):
            continue
        n_cite = len(result.citations) + 1
        result.citations.append(Citation.of(n_cite, a))
        key = normalise(sentence)
        if key in shown:  # the same sentence from another outlet: one entry, both cited
            shown[key].quote.also.append(n_cite)
            continue
        entry = TimelineEntry(quote=Quote(text=sentence, citation=n_cite, article_id=a.id,
                                          start=start, end=start + len(sentence)),
                              published=a.published)
        shown[key] = entry
        result.entries.append(entry)
    if len(result.entries) > n:  # the latest n, renumbered
        keep = result.entries[-n:]
        cited = sorted({c for e in keep for c in [e.quote.citation, *e.quote.also]})
        renumber = {old: i + 1 for i, old in enumerate(cited)}
        result.citations = [replace(result.citations[old - 1], n=renumber[old]) for old in cited]
        for e in keep:
            e.quote.citation = renumber[e.quote.citation]
            e.quote.also = [renumber[c] for c in e.quote.also]
        result.entries = keep
    return result
