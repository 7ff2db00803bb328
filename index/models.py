"""Typed objects that cross the engine's boundaries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime


@dataclass
class Article:
    """One news article as read from a source, before it is stored."""

    title: str
    text: str
    url: str | None = None
    publisher: str | None = None
    published: datetime | None = None
    author: str | None = None
    category: str | None = None
    id: str | None = None  # the id the source gave, if any
    key: str | None = None  # a stable identity when there is no id or URL (a file's path)


@dataclass(frozen=True)
class Passage:
    """A sentence-aligned slice of an article's stored text: text == article.text[start:end]."""

    id: str
    article_id: str
    position: int
    start: int
    end: int
    text: str


@dataclass
class StoredArticle:
    id: str
    title: str
    text: str
    url: str | None
    publisher: str | None
    published: datetime | None
    author: str | None
    category: str | None
    text_hash: str


@dataclass
class Hit:
    """A passage found by search, with the scores that ranked it."""

    passage: Passage
    article: StoredArticle
    score: float
    dense: float = 0.0
    lexical: float = 0.0

    def to_json(self) -> dict:
        return {
            "article_id": self.article.id,
            "passage_id": self.passage.id,
            "title": self.article.title,
            "source": self.article.publisher,
            "url": self.article.url,
            "published": iso(self.article.published),
            "score": round(self.score, 4),
            "dense": round(self.dense, 4),
            "lexical": round(self.lexical, 4),
            "text": self.passage.text,
        }


@dataclass
class Citation:
    n: int
    article_id: str
    title: str
    source: str | None
    url: str | None
    published: datetime | None

    def to_json(self) -> dict:
        d = asdict(self)
        d["published"] = iso(self.published)
        return d


@dataclass
class Quote:
    """A verified span of a stored article: text == normalised article.text[start:end]."""

    text: str
    citation: int
    article_id: str
    start: int
    end: int


@dataclass
class Answer:
    question: str
    abstained: bool
    answer: str
    quotes: list[Quote] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    generated: bool = False

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answer": self.answer,
            "quotes": [{"text": q.text, "citation": q.citation} for q in self.quotes],
            "citations": [c.to_json() for c in self.citations],
        }


@dataclass
class Summary:
    citation: Citation
    sentences: list[str]

    def to_json(self) -> dict:
        return {**self.citation.to_json(), "summary": " ".join(self.sentences)}


@dataclass
class SourceInfo:
    name: str
    location: str
    kind: str
    articles: int
    passages: int
    last_refresh: datetime | None
    last_error: str | None

    def to_json(self) -> dict:
        d = asdict(self)
        d["last_refresh"] = iso(self.last_refresh)
        return d


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None
