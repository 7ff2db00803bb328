"""The engine: one object that owns the store and the embedder and does every job.

Synchronous and thread-safe; async callers (the bot) run its methods in a worker thread.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from index.config import IndexSettings
from index.embed import Embedder, SentenceTransformerEmbedder
from index.errors import NewsbotError, SourceError, UnknownSource
from index.models import Article, Passage, SourceInfo
from index.passages import split_passages
from index.sources import Fetcher, ReadResult, is_url, read_source, source_kind
from index.store import Store, make_chroma_client, norm_hash, ts

log = logging.getLogger(__name__)

# progress(done, total, what): called from the indexing thread.
Progress = Callable[[int, int, str], None]
ARTICLES_PER_COMMIT = 512  # articles made visible per SQLite transaction
ENCODE_GROUP = 1024  # passages handed to the model at once (and per progress tick)


@dataclass
class IndexReport:
    source: str
    articles: int = 0  # articles the source holds after this run
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    removed: int = 0
    embedded: int = 0  # passages sent to the model
    seconds: float = 0.0
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return self.__dict__.copy()

    def counts(self) -> str:
        """"8 articles, 8 new, 0 updated, 0 unchanged[, N duplicates skipped][, N removed]"."""
        parts = [f"{self.articles} articles", f"{self.new} new", f"{self.updated} updated",
                 f"{self.unchanged} unchanged"]
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicates skipped")
        if self.removed:
            parts.append(f"{self.removed} removed")
        return ", ".join(parts)


def canonical_url(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    query = urlencode(sorted(
        (k, v) for k, v in parse_qsl(parts.query) if not k.lower().startswith(("utm_", "ref"))
    ))
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


def _sha(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


def embed_text(title: str, passage_text: str) -> str:
    return f"{title}\n{passage_text}" if title else passage_text


class Engine:
    def __init__(self, store: Store, embedder: Embedder, fetcher: Fetcher | None = None,
                 settings: IndexSettings | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.fetcher = fetcher or Fetcher()
        self.settings = settings or IndexSettings()
        self.articles_per_commit = ARTICLES_PER_COMMIT

    @classmethod
    def from_settings(cls, settings: IndexSettings | None = None,
                      embedder: Embedder | None = None) -> Engine:
        s = settings or IndexSettings()
        client = make_chroma_client(s.newsbot_data_dir, s.chroma_host, s.chroma_port)
        store = Store(Path(s.newsbot_data_dir), client)
        fetcher = Fetcher(timeout=s.newsbot_fetch_timeout, max_bytes=s.newsbot_max_source_bytes,
                          allow_private=s.newsbot_allow_private_urls)
        engine = cls(store, embedder or SentenceTransformerEmbedder(s.newsbot_model), fetcher, s)
        engine.reconcile()  # a run killed earlier may have left orphan vectors
        return engine

    def close(self) -> None:
        self.store.close()

    # -- sources -------------------------------------------------------------------------------
    def add_source(self, location: str, name: str | None = None,
                   progress: Progress | None = None) -> IndexReport:
        """Register a source and index it. Re-adding a registered location refreshes it."""
        location = location.strip()
        if not is_url(location):
            location = str(Path(location).expanduser().resolve())
        existing = self.store.source_by_location(location)
        if existing is not None:
            return self.refresh_source(existing["name"], progress)
        name = (name or _default_name(location)).strip()
        if not name:
            raise NewsbotError("a source needs a name")
        if self.store.source_by_name(name) is not None:
            other = self.store.source_by_name(name)["location"]
            raise SourceError(name, f"a source with this name already exists for {other}")
        self.store.add_source(name, location, source_kind(location))
        return self.refresh_source(name, progress)

    def remove_source(self, name: str) -> int:
        if self.store.source_by_name(name) is None:
            raise UnknownSource(name)
        with self._lock(wait=True):
            self.store.set_state("dirty", "1")
            dropped = self.store.delete_source(name)
            self.store.delete_vectors(dropped)
            self.store.set_state("dirty", None)
        return len(dropped)

    def list_sources(self) -> list[SourceInfo]:
        return self.store.list_sources()

    def refresh(self, name: str | None = None, progress: Progress | None = None) -> list[IndexReport]:
        """Re-read one source or all; a failing source never stops the others."""
        names = [name] if name else self.store.source_names()
        reports = []
        for n in names:
            try:
                reports.append(self.refresh_source(n, progress))
            except NewsbotError as exc:
                reports.append(IndexReport(source=n, error=str(exc)))
            except Exception:  # a bug with one source must not stop the others
                log.exception("refreshing source %s failed", n)
                reports.append(IndexReport(source=n, error=f"{n}: failed unexpectedly (see the log)"))
        return reports

    def refresh_source(self, name: str, progress: Progress | None = None) -> IndexReport:
        row = self.store.source_by_name(name)
        if row is None:
            raise UnknownSource(name)
        started = time.perf_counter()
        try:
            result = read_source(row["location"], name, self.fetcher)
        except SourceError as exc:
            self.store.record_refresh(name, str(exc))
            raise
        except Exception as exc:  # a parser bug must not take the other sources down
            log.exception("reading source %s failed", name)
            err = SourceError(name, "could not be read (an unexpected error; see the log)")
            self.store.record_refresh(name, str(err))
            raise err from exc
        # file and folder sources mirror their files; feeds and pages keep what they once held
        mirror = row["kind"] in ("file", "folder")
        report = self.index_articles(name, result, progress=progress, mirror=mirror)
        report.seconds = time.perf_counter() - started
        error = "; ".join(report.problems[:3]) if report.problems else None
        self.store.record_refresh(name, error)
        return report

    # -- indexing ------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Finish what a killed run left: drop vectors with no passage row, re-add missing ones
        from the vectors SQLite keeps (no model needed). Also repairs a Chroma that lost vectors
        (wiped, or a new server)."""
        if not self._needs_reconcile():
            return
        with self._lock() as locked:
            if locked:  # else another process is indexing now and cleans up itself
                self._reconcile()

    def _needs_reconcile(self) -> bool:
        return (self.store.get_state("dirty") is not None
                or self.store.collection.count() != self.store.passage_count())

    def _reconcile(self) -> None:
        if not self._needs_reconcile():
            return
        log.info("reconciling the index after an interrupted run")
        rows = self.store.all_passage_ids()
        vecs = self.store.all_vector_ids()
        self.store.delete_vectors(vecs - rows)
        missing = list(rows - vecs)
        if missing:
            passages = self.store.get_passages(missing)
            vectors = self.store.vectors(missing)
            published = self.store.published_of(missing)
            plist = list(passages.values())
            self.store.upsert_vectors(plist, np.stack([vectors[p.id] for p in plist]), published)
        self.store.set_state("dirty", None)

    @contextmanager
    def _lock(self, wait: bool = False) -> Iterator[bool]:
        """An exclusive lock on the data directory for writers (released by the OS on a crash)."""
        path = Path(self.store.data_dir) / "index.lock"
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def index_articles(self, source: str, articles: Iterable[Article] | ReadResult,
                       progress: Progress | None = None, mirror: bool = False) -> IndexReport:
        """Store the articles of one source: new and changed ones are embedded, the rest kept."""
        with self._lock(wait=True):
            self._reconcile()
            return self._index_articles(source, articles, progress, mirror)

    def _index_articles(self, source: str, articles: Iterable[Article] | ReadResult,
                        progress: Progress | None, mirror: bool) -> IndexReport:
        report = IndexReport(source=source)
        problems: list[str] = []
        if isinstance(articles, ReadResult):
            problems = list(articles.problems)
            items: Iterable[Article] = articles.articles
        else:
            items = articles
        rows: list[dict] = []
        seen_ids: set[str] = set()
        seen_norm: dict[str, str] = {}
        linked: list[str] = []
        for a in items:
            canon = canonical_url(a.url) if a.url and is_url(a.url) else None
            if a.id:
                aid = a.id
            elif canon:
                aid = "u_" + _sha(canon)[:16]
            elif a.key:
                aid = "f_" + _sha(a.key)[:16]
            else:
                aid = "t_" + _sha(a.title + "\0" + a.text)[:16]
            nh = norm_hash(a.text)
            if aid in seen_ids:
                report.duplicates += 1
                continue
            if not a.id:
                # the same story from another feed or URL is stored once
                other = seen_norm.get(nh) or self.store.article_by_norm_hash(nh)
                if other and other != aid:
                    report.duplicates += 1
                    linked.append(other)
                    continue
            seen_ids.add(aid)
            seen_norm[nh] = aid
            published = ts(a.published)
            fields = {
                "id": aid, "title": a.title, "text": a.text, "url": a.url,
                "canonical_url": canon, "publisher": a.publisher, "published": published,
                "author": a.author, "category": a.category,
            }
            fields["text_hash"] = _sha(json.dumps(fields, sort_keys=True, default=str))
            fields["norm_hash"] = nh
            fields["indexed_at"] = time.time()
            rows.append(fields)
        report.problems = problems

        known = self.store.article_hashes([r["id"] for r in rows])
        changed = [r for r in rows if known.get(r["id"]) != r["text_hash"]]
        report.new = sum(1 for r in changed if r["id"] not in known)
        report.updated = len(changed) - report.new
        report.unchanged = len(rows) - len(changed)
        self.store.link(source, [r["id"] for r in rows if r["id"] in known] + linked)

        if mirror:
            gone = self.store.source_article_ids(source) - {r["id"] for r in rows} - set(linked)
            if gone:
                self.store.set_state("dirty", "1")
                dropped = self.store.unlink_articles(source, gone)
                self.store.delete_vectors(dropped)
                self.store.set_state("dirty", None)
                report.removed = len(gone)

        if changed:
            self.store.set_state("dirty", "1")
            split = {r["id"]: split_passages(r["id"], r["text"], salt=r["title"]) for r in changed}
            total = sum(len(ps) for ps in split.values())
            done = 0
            step = self.articles_per_commit
            for i in range(0, len(changed), step):
                chunk = changed[i : i + step]
                passages: list[Passage] = [p for r in chunk for p in split[r["id"]]]
                old = self.store.passage_vectors_of([r["id"] for r in chunk])
                need = [p for p in passages if p.id not in old]
                kept = [p for p in passages if p.id in old]
                titles = {r["id"]: r["title"] for r in chunk}
                published = {r["id"]: r["published"] for r in chunk}

                def tick(n: int, done_before: int = done) -> None:
                    if progress:
                        progress(done_before + n, total, source)

                vectors = self._embed_and_upsert(need, titles, published, tick)
                report.embedded += len(need)
                if kept:  # same text, maybe a new date: the vector stays, its metadata follows
                    self.store.update_vector_meta(kept, published)
                    vectors.update({p.id: old[p.id] for p in kept})
                self.store.commit_articles(source, chunk, passages, titles, vectors)
                self.store.delete_vectors(set(old) - {p.id for p in passages})
                done += len(passages)
                if progress:
                    progress(done, total, source)
            self.store.set_state("dirty", None)
        elif progress:
            progress(0, 0, source)
        report.articles = len(self.store.source_article_ids(source))
        return report

    def _embed_and_upsert(self, passages: list[Passage], titles: dict[str, str],
                          published: dict[str, float | None],
                          progress: Callable[[int], None] | None) -> dict[str, np.ndarray]:
        """Embed (batches of 32 inside the model) and write to Chroma; returns the vectors by
        passage id. Large groups let the model sort texts by length, which saves padding."""
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(passages), ENCODE_GROUP):
            batch = passages[i : i + ENCODE_GROUP]
            vecs = self.embedder.encode([embed_text(titles[p.article_id], p.text) for p in batch])
            self.store.upsert_vectors(batch, vecs, published)
            out.update({p.id: v for p, v in zip(batch, vecs, strict=True)})
            if progress:
                progress(i + len(batch))
        return out

    # -- questions -----------------------------------------------------------------------------
    def encode_query(self, text: str) -> np.ndarray:
        return self.embedder.encode([text])[0]

    def search(self, question: str, k: int = 10, **kw):
        from index.search import search

        return search(self, question, k=k, **kw)

    def ask(self, question: str, **kw):
        from index.answer import answer

        result = answer(self, question, **kw)
        s = self.settings
        if s.llm_base_url and s.llm_model and not result.abstained:
            from index.llm import phrase

            result = phrase(result, s.llm_base_url, s.llm_model, s.llm_api_key)
        return result

    def latest(self, topic: str | None = None, n: int = 5, **kw):
        from index.summary import latest

        return latest(self, topic, n=n, **kw)


def _default_name(location: str) -> str:
    if is_url(location):
        parts = urlsplit(location)
        tail = parts.path.strip("/").split("/")[-1] if parts.path.strip("/") else ""
        return f"{parts.hostname}{'/' + tail if tail else ''}"
    return Path(location).stem or Path(location).name
