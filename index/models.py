"""Typed objects that cross the engine's boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal


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
    title_derived: bool = False  # the source gave no title: the first sentence stands in


@dataclass(frozen=True)
class Passage:
    """A sentence-aligned slice of an article's stored text: text == article.text[start:end]."""

    id: str
    article_id: str
    position: int
    start: int
    end: int
    text: str
    # its sentences' (start, end) in `text`, found once at index time; empty: not stored (a
    # passage indexed before they were), so readers split the text themselves
    sentences: tuple[tuple[int, int], ...] = ()


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
    story: str | None = None  # the story it belongs to (an article id); None: not yet given
    copy_of: str | None = None  # the article it is a near-copy of, if any

    @property
    def story_id(self) -> str:
        return self.story or self.id


@dataclass
class Hit:
    """A passage found by search, with the scores that ranked it."""

    passage: Passage
    article: StoredArticle
    score: float
    dense: float = 0.0
    lexical: float = 0.0

    def to_json(self) -> dict[str, Any]:
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

    @classmethod
    def of(cls, n: int, article: StoredArticle) -> Citation:
        return cls(n=n, article_id=article.id, title=article.title, source=article.publisher,
                   url=article.url, published=article.published)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["published"] = iso(self.published)
        return d


@dataclass
class Quote:
    """A verified span of a stored article: text == article.text[start:end]."""

    text: str
    citation: int
    article_id: str
    start: int
    end: int
    score: float = 0.0  # the answer ranker's score for this sentence, in [0, 1]
    also: list[int] = field(default_factory=list)  # other outlets' articles saying it verbatim


@dataclass
class Claim:
    """One outlet's side of a disagreement: the figure and the sentence giving it."""

    value: str
    text: str  # verbatim from the cited article
    citation: int
    source: str | None


@dataclass
class Disagreement:
    """Reports of one story that give different figures for the same thing."""

    about: str  # the words after the figure ("Syrian army troops")
    claims: list[Claim]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


AbstentionReason = Literal[
    "empty_index",  # nothing is indexed at all
    "unknown_names",  # names in the question that no indexed article mentions
    "names_not_found",  # what was found mentions too few of the question's names
    "period",  # nothing from the period the question (or a filter) names
    "no_answer",  # on the subject, but no sentence answers the question
    "unverified",  # no quote survived verification against the stored text
]


@dataclass
class Abstention:
    """Why an answer was declined, with the figures a front end needs to say so."""

    reason: AbstentionReason
    names: list[str] = field(default_factory=list)  # the names missing
    found_with: list[str] = field(default_factory=list)  # names that were found
    period: str | None = None  # "this week", "2019", "after 10 Feb 2020"
    articles: int = 0  # what is indexed (within the filters), to say what was searched
    first: datetime | None = None
    last: datetime | None = None
    best_score: float | None = None  # the ranker's best sentence score, when it came to that

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["first"], d["last"] = iso(self.first), iso(self.last)
        return d


@dataclass
class Answer:
    question: str
    quotes: list[Quote] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    abstention: Abstention | None = None
    # one to three sentences from the optional LLM, each citing a quote; None when not used
    phrasing: str | None = None
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def abstained(self) -> bool:
        return self.abstention is not None


@dataclass(frozen=True)
class Filters:
    """What a question is limited to, besides the time words in it."""

    since: datetime | None = None  # published on or after
    until: datetime | None = None  # published before
    sources: tuple[str, ...] = ()  # source names; empty means all
    as_of: datetime | None = None  # answer as the index stood then: later articles are hidden
    server: str | None = None  # as a member of this Discord server sees the news
    keys: tuple[str, ...] = ()  # set by the engine: the store's source keys to limit to
    visible: tuple[str, ...] = ()  # set by the engine: the keys the asker may see (empty: all)

    @property
    def any(self) -> bool:
        return bool(self.since or self.until or self.sources or self.as_of)

    @classmethod
    def parse(cls, since: str | None = None, until: str | None = None,
              sources: Sequence[str] | None = None, as_of: str | None = None,
              server: str | int | None = None) -> Filters:
        """Filters as a person gives them: dates as written, `until` including its day."""
        from index.errors import NewsbotError
        from index.text import parse_day

        def day(value: str | None, what: str) -> datetime | None:
            if value is None or not value.strip():
                return None
            parsed = parse_day(value)
            if parsed is None:
                raise NewsbotError(f"{what}: {value!r} is not a date")
            return parsed

        end = day(until, "until")
        return cls(since=day(since, "since"), until=end + timedelta(days=1) if end else None,
                   sources=tuple(s.strip() for s in sources or () if s.strip()),
                   as_of=day(as_of, "as of"), server=str(server) if server else None)


@dataclass
class Summary:
    """One story: its first report summarised, the other outlets that carry it, its span."""

    citation: Citation
    sentences: list[str]
    also: list[Citation] = field(default_factory=list)  # one article per other outlet
    first: datetime | None = None  # the story's first and last publication
    last: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.citation.to_json(), "summary": " ".join(self.sentences),
                "also": [c.to_json() for c in self.also], "first": iso(self.first),
                "last": iso(self.last)}


@dataclass
class TimelineEntry:
    quote: Quote  # the key sentence of one report, verified against its article
    published: datetime | None


@dataclass
class Timeline:
    """A topic's reports in date order, one key sentence each, with their citations."""

    topic: str
    entries: list[TimelineEntry] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic,
                "entries": [{"published": iso(e.published), "text": e.quote.text,
                             "citation": e.quote.citation, "also": e.quote.also}
                            for e in self.entries],
                "citations": [c.to_json() for c in self.citations]}


@dataclass
class SourceInfo:
    name: str
    location: str
    kind: str
    articles: int
    passages: int
    last_refresh: datetime | None
    last_error: str | None
    server: str | None = None  # the Discord server it belongs to; None: global (everyone's)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["last_refresh"] = iso(self.last_refresh)
        return d


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


@dataclass(frozen=True)
class SourceRow:
    key: str  # unique in the store: the name for a global source, "SERVER:name" for a server's
    location: str
    kind: str
    server: str | None = None
    name: str = ""  # as its owners named it

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.key)


@dataclass(frozen=True)
class IndexStats:
    articles: int
    passages: int  # 0 when not counted (Store.stats(passages=False))
    first: datetime | None
    last: datetime | None


@dataclass
class ArticleRow:
    """An article as it is written to the store."""

    id: str
    title: str
    text: str
    url: str | None
    canonical_url: str | None
    publisher: str | None
    published: float | None
    author: str | None
    category: str | None
    text_hash: str = ""
    norm_hash: str = ""
    indexed_at: float = 0.0
    published_raw: float | None = None  # the date as given, when `published` was capped
