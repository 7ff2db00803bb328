"""The engine: the facade over sources, the store, the embedder and the answer ranker.

Synchronous and thread-safe; async callers (the bot) run its methods in a worker thread.
It returns data (`IndexReport`, `Hit`, `Answer`, `Summary`); the front ends word it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import courlan
import filelock
import numpy as np

from index import metrics, stories
from index.answer import answer
from index.embed import Embedder, make_embedder
from index.errors import (
    DiskFull,
    IndexInUse,
    NewsbotError,
    SourceError,
    UnknownSource,
    is_disk_full,
)
from index.llm import phrase
from index.models import (
    Answer,
    Article,
    ArticleRow,
    Filters,
    Hit,
    Passage,
    SourceInfo,
    SourceRow,
    Summary,
    Timeline,
)
from index.passages import split_ahead
from index.ranker import SentenceRanker
from index.scoring import DEFAULT, ScoringConfig
from index.search import Mode, search
from index.settings import IndexSettings, LLMSettings
from index.sources import Fetcher, ReadResult, is_url, public_url, read_source, source_kind
from index.store import Store, make_chroma_client, norm_hash, ts
from index.summary import latest, timeline

log = logging.getLogger(__name__)
T = TypeVar("T")

# progress(done, total, what): called from the indexing thread.
Progress = Callable[[int, int, str], None]
ARTICLES_PER_COMMIT = 512  # articles made visible per SQLite transaction
ENCODE_GROUP = 1024  # passages handed to the model at once (and per progress tick)
FIRST_COMMIT = 50  # articles in the first commit of a batch (the model waits for their split)


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

    def to_json(self) -> dict[str, Any]:
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
    """The identity of a URL: courlan's normal form (case, default ports, tracking parameters,
    sorted query) without user info, fragment or trailing slash."""
    try:
        parts = urlsplit(public_url(courlan.normalize_url(url.strip())))
    except ValueError:
        return None
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def open_store(settings: IndexSettings, chroma_client: Any) -> Store:
    """PostgreSQL when `NEWSBOT_DATABASE_URL` is set, else SQLite in the data directory."""
    if settings.database_url is not None:
        from index.pgstore import PgStore

        return PgStore(settings.database_url.get_secret_value(), Path(settings.data_dir),
                       chroma_client)
    return Store(Path(settings.data_dir), chroma_client)


def claim_embedded(data_dir: Path) -> filelock.BaseFileLock:
    """Hold the embedded store for this process's life. Chroma's embedded index lives in the
    memory of the process that opened it: a second process would neither see the first one's
    new vectors nor keep its own from being overwritten, so it is refused in one line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(data_dir / "embedded.lock")
    owner = data_dir / "embedded.owner"
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        try:
            holder = owner.read_text().strip()
        except OSError:
            holder = ""
        raise IndexInUse(data_dir, holder or "unknown pid") from None
    with suppress(OSError):
        owner.write_text(f"pid {os.getpid()}, {Path(sys.argv[0]).name or 'python'}")
    return lock


@contextmanager
def saving(data_dir: Path) -> Iterator[None]:
    """Turns running out of disk, wherever it surfaces (SQLite, Chroma, a file), into one
    `DiskFull` line naming the data directory. What was half written is rolled back or left
    for `Engine.reconcile()`."""
    try:
        yield
    except NewsbotError:
        raise
    except Exception as exc:
        if is_disk_full(exc) or (type(exc).__module__.startswith("chromadb")
                                 and _nearly_full(data_dir)):
            raise DiskFull(data_dir) from exc
        raise


def _nearly_full(path: Path) -> bool:
    """Chroma does not always say why a write failed ("Failed to apply logs to the hnsw segment
    writer"); with under 1 MiB left, the disk is the likely reason."""
    try:
        return shutil.disk_usage(path).free < 1 << 20
    except OSError:
        return False


_SERVER_KEY = re.compile(r"^\d+:")
NO_SOURCE = "\x1fnone"  # a source key that matches nothing (no name holds a control character)


def source_key(server: str | None, name: str) -> str:
    """How the store names a source: its name when global, "SERVER:name" in a server."""
    return name if server is None else f"{server}:{name}"


def _sha(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()


def embed_text(title: str, passage_text: str) -> str:
    return f"{title}\n{passage_text}" if title else passage_text


_UNHASHED = ("text_hash", "norm_hash", "indexed_at", "published_raw")
FUTURE_SLACK = 86_400.0  # a publication date may be at most a day past the time of indexing


@dataclass
class _Batch:
    """What one source read holds, identified and deduplicated."""

    rows: list[ArticleRow] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)  # copies stored under another article
    shared: list[str] = field(default_factory=list)  # another source's articles, same text
    duplicates: int = 0


@functools.cache
def one_blas_thread() -> None:
    """Numpy's BLAS (OpenBLAS) runs on one thread in an engine's process. Its threads spin for
    a while after each call, and on two cores they took the time of the answer ranker, which
    runs next: with a source filter, whose vectors are scored in memory, six pairs took 49 ms
    a question, 33 with one BLAS thread (bench/latency.py's questions at 100k passages).
    (scipy's, which datasketch loads later, does no work when a question is asked.)"""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


class Engine:
    def __init__(self, store: Store, embedder: Embedder, fetcher: Fetcher,
                 ranker: SentenceRanker | None = None, config: ScoringConfig = DEFAULT,
                 llm: LLMSettings | None = None) -> None:
        one_blas_thread()
        self.store = store
        self.embedder = embedder
        self.fetcher = fetcher
        self.ranker = ranker
        self.config = config
        self.llm = llm
        self.articles_per_commit = ARTICLES_PER_COMMIT
        self.server_source_limit = 20  # sources one Discord server may add
        self.server_fetch_limit = 10  # of one server's sources, read per refresh
        self._claim: filelock.BaseFileLock | None = None  # the embedded store, held for life

    @classmethod
    def from_settings(cls, settings: IndexSettings, embedder: Embedder | None = None,
                      ranker: SentenceRanker | str | None = "settings") -> Engine:
        """Everything wired from settings (the entry points build the settings)."""
        s = settings
        claim = None if s.chroma.host else claim_embedded(Path(s.data_dir))
        store = None
        try:
            chosen = load_ranker(s.reranker) if isinstance(ranker, str) else ranker
            with saving(Path(s.data_dir)):  # opening may migrate (and back up) the database
                client = make_chroma_client(s.data_dir, s.chroma.host, s.chroma.port)
                store = open_store(s, client)
        except BaseException:
            if store is not None:
                store.close()
            if claim is not None:
                claim.release()
            raise
        fetcher = Fetcher(timeout=s.fetch_timeout, max_bytes=s.max_source_bytes,
                          allow_private=s.allow_private_urls)
        engine = cls(store, embedder or make_embedder(s.embedder, s.model), fetcher,
                     ranker=chosen, llm=s.llm)
        engine._claim = claim
        engine.server_source_limit = s.server_source_limit
        engine.server_fetch_limit = s.server_fetch_limit
        try:
            engine.check_vectors()  # a full disk or a crash may have left Chroma unreadable
            engine.reconcile()  # a run killed earlier may have left orphan vectors
        except BaseException:
            engine.close()
            raise
        return engine

    def warm_up(self) -> None:
        """Load the models now (the bot does this while it connects), not at the first
        question."""
        self.embedder.encode(["warm up"])
        if self.ranker is not None:
            self.ranker.score("warm up?", ["The models are loaded."], [""])

    def close(self) -> None:
        self.store.close()
        if self._claim is not None:
            self._claim.release()
            self._claim = None

    # -- sources -------------------------------------------------------------------------------
    # A source is global (the operator's, from the CLI) or belongs to one Discord server. A
    # server sees the global sources and its own; the same location held by several scopes is
    # read and embedded once, each scope holding its own membership.
    def add_source(self, location: str, name: str | None = None,
                   progress: Progress | None = None, *, server: str | None = None) -> IndexReport:
        """Register a source and index it. Re-adding a registered location refreshes it."""
        location = location.strip()
        if is_url(location):
            location = public_url(location)  # credentials are never stored or shown
        else:
            location = str(Path(location).expanduser().resolve())
        existing = self.store.source_by_location(location, server)
        if existing is not None:
            return self.refresh_source(existing.key, progress)
        if server is not None:
            shared = self.store.source_by_location(location, None)
            if shared is not None:
                raise NewsbotError(f"this is already a source for every server, as "
                                   f"{shared.name!r}")
            if self.store.count_sources(server) >= self.server_source_limit:
                raise NewsbotError(f"this server has {self.server_source_limit} sources, the "
                                   "most it may have: remove one first")
        name = (name or _default_name(location)).strip()
        if not name:
            raise NewsbotError("a source needs a name")
        if not name.isprintable():
            raise NewsbotError(f"{name!r}: a source's name may not hold control characters")
        if server is None and _SERVER_KEY.match(name):
            raise NewsbotError(f"{name!r}: a global source's name may not start with digits "
                               "and a colon")
        key = source_key(server, name)
        other = self.store.source_by_name(key)
        if other is not None:
            raise SourceError(name, f"a source with this name already exists for {other.location}")
        with self._saving():
            self.store.add_source(key, location, source_kind(location), server, name)
        # read even when another scope holds this location (articles it holds are linked, not
        # embedded again): answering from its copy would tell this server who follows what
        return self.refresh_source(key, progress)

    def remove_source(self, name: str, *, server: str | None = None) -> int:
        """Remove a source of this scope; its articles go unless another scope holds them."""
        key = self._key(name, server)
        with self._lock(wait=True), self._saving(), self._dirty():
            dropped = self.store.delete_source(key)
            self.store.delete_vectors(dropped)
        return len(dropped)

    def list_sources(self, *, server: str | None = None,
                     everything: bool = False) -> list[SourceInfo]:
        """The sources a server sees (the global ones and its own); without a server the global
        ones, or with `everything` every scope's."""
        return self.store.list_sources(None if everything else [None, server])

    def refresh(self, name: str | None = None, progress: Progress | None = None, *,
                server: str | None = None, every_scope: bool = True,
                feeds_only: bool = False) -> list[IndexReport]:
        """Re-read one source, or all of a scope (`server`, or every scope when `every_scope`
        and no server is given); a failing source never stops the others. Each server has at
        most `server_fetch_limit` of its sources read per call, the least recently read first;
        the rest wait for the next refresh."""
        rows: list[SourceRow]
        if name:
            one = self.store.source_by_name(self._key(name, server))
            rows = [one] if one is not None else []
        elif server is not None:
            rows = self.store.source_rows([server])
        else:
            rows = self.store.source_rows(None if every_scope else [None])
        rows = [r for r in rows if not feeds_only or r.kind in ("url", "feed")]
        if not name:
            per_server: dict[str, int] = {}
            capped = []
            for r in rows:
                if r.server is not None:
                    per_server[r.server] = per_server.get(r.server, 0) + 1
                    if per_server[r.server] > self.server_fetch_limit:
                        continue
                capped.append(r)
            rows = capped
        wanted = {r.key for r in rows}
        reports: list[IndexReport] = []
        done: set[str] = set()
        for row in rows:
            if row.key in done:
                continue
            sharing = self.store.sources_at(row.location)
            done.update(r.key for r in sharing)
            try:
                pairs = self._refresh_location(row, progress, sharing)
            except NewsbotError as exc:
                reports.append(IndexReport(source=row.name, error=str(exc)))
                continue
            except Exception:  # a bug with one source must not stop the others
                log.exception("refreshing source %s failed", row.key)
                reports.append(IndexReport(source=row.name,
                                           error=f"{row.name}: failed unexpectedly (see the log)"))
                continue
            reports += [report for r, report in pairs if r.key in wanted]
        metrics.count_refresh(reports)
        return reports

    # -- servers -------------------------------------------------------------------------------
    def server_settings(self, server: str) -> dict[str, Any]:
        """What a server's admins have set (the front end knows the defaults)."""
        return self.store.server_settings(server)

    def all_server_settings(self) -> dict[str, dict[str, Any]]:
        """Every server's settings (a server the bot left keeps them through the grace
        period)."""
        return self.store.all_server_settings()

    def update_server_settings(self, server: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge changes into a server's settings (a None value goes back to the default)."""
        with self._saving():
            settings = {**self.store.server_settings(server), **changes}
            settings = {k: v for k, v in settings.items() if v is not None}
            self.store.save_server_settings(server, settings)
        return settings

    def server_left(self, server: str, when: float | None = None) -> None:
        """The bot left a server: its sources and settings go after a grace period."""
        self.store.mark_server(server, time.time() if when is None else when)

    def server_joined(self, server: str) -> None:
        """The bot is in a server (again): nothing of it is to be forgotten."""
        self.store.mark_server(server, None)

    def forget_servers(self, grace_seconds: float, now: float | None = None) -> list[str]:
        """Drop the scopes of servers left more than `grace_seconds` ago: their sources, their
        settings, and the articles no other scope holds. Returns the servers forgotten."""
        cutoff = (time.time() if now is None else now) - grace_seconds
        gone = []
        for server in self.store.servers_left_before(cutoff):
            with self._lock(wait=True), self._saving(), self._dirty():
                dropped = self.store.forget_server(server, cutoff)  # unless it came back since
                if dropped is not None:
                    self.store.delete_vectors(dropped)
                    gone.append(server)
        return gone

    def scheduled_refresh(self, every_s: float) -> list[IndexReport] | None:
        """The periodic refresh of feeds and pages, run by one process of a deployment: several
        processes sharing the store each call this on their own timer, and only the first to
        claim the period refreshes (None for the others)."""
        if not self.store.claim_turn("scheduled_refresh", time.time(), 0.9 * every_s):
            return None
        return self.refresh(feeds_only=True)

    def refresh_source(self, key: str, progress: Progress | None = None) -> IndexReport:
        row = self.store.source_by_name(key)
        if row is None:
            raise UnknownSource(key)
        return self._refresh_location(row, progress)[0][1]

    def _key(self, name: str, server: str | None) -> str:
        """The store key of a source a scope may change: its own, by name."""
        key = source_key(server, name)
        if self.store.source_by_name(key) is not None:
            return key
        if server is not None and self.store.source_by_name(name) is not None and \
                not _SERVER_KEY.match(name):
            raise NewsbotError(f"{name!r} is a source for every server: only the operator "
                               "changes it")
        raise UnknownSource(name)

    def _refresh_location(self, row: SourceRow, progress: Progress | None,
                          sharing: list[SourceRow] | None = None
                          ) -> list[tuple[SourceRow, IndexReport]]:
        """Read a source once and index what it holds for `row` and for the other scopes'
        sources at its location in `sharing`; `row`'s report comes first."""
        rows = [row] + [r for r in sharing or () if r.key != row.key]
        # a location several scopes hold is read under its own address (stored without
        # credentials), so that no scope's errors or problems carry another scope's name for it
        reading = row.name if len(rows) == 1 else row.location
        started = time.perf_counter()
        try:
            result = read_source(row.location, reading, self.fetcher)
        except SourceError as exc:
            for r in rows:
                self._record(r.key, str(SourceError(r.name, exc.reason)))
            raise SourceError(row.name, exc.reason) from None
        except Exception as exc:  # a parser bug must not take the other sources down
            log.exception("reading source %s failed", row.key)
            reason = "could not be read (an unexpected error; see the log)"
            for r in rows:
                self._record(r.key, str(SourceError(r.name, reason)))
            raise SourceError(row.name, reason) from exc
        peers = {r.key for r in rows}
        return [(r, self._index_read(r, result, progress if r is row else None, started,
                                     peers)) for r in rows]

    def _record(self, key: str, error: str | None) -> None:
        """Note a refresh's outcome; a disk too full for even that does not hide the error."""
        try:
            with self._saving():
                self.store.record_refresh(key, error)
        except DiskFull:
            log.warning("could not record the refresh of %s: the disk is full", key)

    def _index_read(self, row: SourceRow, result: ReadResult, progress: Progress | None,
                    started: float, peers: set[str] | None = None) -> IndexReport:
        name = row.key
        # file and folder sources mirror their files; feeds and pages keep what they once held
        mirror = row.kind in ("file", "folder")
        named = None if progress is None else (
            lambda done, total, _key: progress(done, total, row.name))  # as its owners name it
        try:
            report = self.index_articles(name, result, progress=named, mirror=mirror,
                                         peers=peers)
        except DiskFull as exc:
            self._record(name, str(exc))
            raise SourceError(row.name, str(exc)) from exc
        report.source = row.name  # as its owners named it
        report.seconds = time.perf_counter() - started
        error = "; ".join(report.problems[:3]) if report.problems else None
        self._record(name, error)
        return report

    # -- indexing ------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Finish what a killed run left: drop vectors with no passage row, re-add missing ones
        from the vectors SQLite keeps (no model needed). Also repairs a Chroma that lost vectors
        (wiped, or a new server)."""
        if not self._needs_reconcile():
            return
        with self._lock() as locked, self._saving():
            if locked:  # else another process is indexing now and cleans up itself
                self._reconcile()

    def check_vectors(self) -> bool:
        """An embedded Chroma that cannot be opened or queried (files emptied by a full disk) is
        rebuilt from the vectors SQLite keeps; says so in one line. Returns whether it was."""
        if self.store.embedded_dir is None:
            return False  # a Chroma server's faults are its own; reconcile refills a wiped one
        with self._lock(wait=True), self._saving():
            why = self.store.vectors_unreadable()
            if why is None:
                return False
            log.warning("the vector index in %s could not be read (%s); rebuilding it from the "
                        "%d passages kept in SQLite", self.store.embedded_dir, why,
                        self.store.passage_count())
            self.store.rebuild_vectors()
            self._reconcile()
            return True

    def _saving(self) -> AbstractContextManager[None]:
        return saving(self.store.data_dir)

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

    def _lock(self, wait: bool = False) -> AbstractContextManager[bool]:
        """The store's writer lock (a file lock beside SQLite, an advisory lock in PostgreSQL;
        released on a crash either way); yields whether it was taken."""
        return self.store.writer_lock(wait)

    @contextmanager
    def _dirty(self) -> Iterator[None]:
        """Marks Chroma and SQLite as possibly out of step while the block runs; a run killed
        inside it is finished by `reconcile()` at the next start."""
        self.store.set_state("dirty", "1")
        yield
        self.store.set_state("dirty", None)

    def index_articles(self, source: str, articles: Iterable[Article] | ReadResult,
                       progress: Progress | None = None, mirror: bool = False,
                       peers: set[str] | None = None) -> IndexReport:
        """Store the articles of one source: new and changed ones are embedded, the rest kept.
        `peers` are the sources of other scopes at the same location, which may update the
        articles this one holds (and it theirs)."""
        with self._lock(wait=True), self._saving():
            self._reconcile()
            report = IndexReport(source=source)
            if isinstance(articles, ReadResult):
                report.problems = list(articles.problems)
                articles = articles.articles
            articles = list(articles)
            read_cleanly = not report.problems
            derived = sum(a.title_derived for a in articles)
            if derived:
                report.problems.append(f"{source}: {derived} articles had no title; the first "
                                       "sentence of each stands in")
            batch = self._identify(source, articles, (peers or set()) | {source})
            report.duplicates = batch.duplicates
            known = self.store.article_hashes([r.id for r in batch.rows])
            changed = [r for r in batch.rows if known.get(r.id) != r.text_hash]
            # counted as this source sees them: an article another scope indexed first is new
            # here (saying otherwise would tell a server what another one follows)
            before = self.store.source_article_ids(source)
            held = [r.id for r in batch.rows] + batch.shared
            report.new = sum(1 for i in held if i not in before)
            report.updated = sum(1 for r in changed if r.id in before)
            report.unchanged = len(held) - report.new - report.updated
            self.store.link(source, [r.id for r in batch.rows if r.id in known] + batch.linked
                            + batch.shared)
            if mirror and read_cleanly:
                # only a clean read says what is gone: a file that failed to read (briefly
                # empty, half written) keeps its articles until it reads cleanly or is deleted
                report.removed = self._drop_gone(source, batch)
            report.embedded = self._write_changed(source, changed, progress)
            # new and changed articles, and any an older index kept without one, get a story
            stories.assign(self.store, self.store.articles_without_story())
            report.articles = len(self.store.source_article_ids(source))
            return report

    def _identify(self, source: str, articles: list[Article], owners: set[str]) -> _Batch:
        """Give each article its id (given id, canonical URL, file key or content) and drop
        copies: the same id twice, or the same text under another id. An id another source
        already holds with other text is not this source's to change: its article gets an id
        of its own."""
        canons = [canonical_url(a.url) if a.url and is_url(a.url) else None for a in articles]
        src = self.store.source_by_name(source)
        visible = None  # a source outside the store (tests, benchmarks) sees every article
        if src is not None:
            scopes = [None, src.server] if src.server else [None]
            visible = sorted({r.key for r in self.store.source_rows(scopes)} | owners)
        ids = [_article_id(a, canon) for a, canon in zip(articles, canons, strict=True)]
        claims = self.store.article_claims(ids)
        batch = _Batch()
        seen_ids: set[str] = set()
        seen_norm: dict[str, str] = {}
        for a, canon, aid in zip(articles, canons, ids, strict=True):
            nh = norm_hash(a.text)
            claim = claims.get(aid)
            if claim and claim[1] and owners.isdisjoint(claim[1]):
                if claim[0] == nh and aid not in seen_ids:
                    # another source's article with this text: held too, never rewritten
                    seen_ids.add(aid)
                    batch.shared.append(aid)
                    continue
                aid = f"{aid}~{_sha(source)[:8]}"
            if aid in seen_ids:
                batch.duplicates += 1
                continue
            if not a.id:
                # the same story from another feed or URL is stored once, if this source's
                # scope sees that feed (else linking would show it another server's article)
                other = seen_norm.get(nh) or self.store.article_by_norm_hash(nh, visible)
                if other and other != aid:
                    batch.duplicates += 1
                    batch.linked.append(other)
                    continue
            seen_ids.add(aid)
            seen_norm[nh] = aid
            url = public_url(a.url) if a.url else None
            row = ArticleRow(id=aid, title=a.title, text=a.text, url=url, canonical_url=canon,
                             publisher=a.publisher, published=ts(a.published), author=a.author,
                             category=a.category)
            fields = {k: v for k, v in row.__dict__.items() if k not in _UNHASHED}
            row.text_hash = _sha(json.dumps(fields, sort_keys=True, default=str))
            row.norm_hash = nh
            row.indexed_at = time.time()
            if row.published is not None and row.published > row.indexed_at + FUTURE_SLACK:
                # a date in the future (2099) would sit atop `latest` for ever: cap it, keep it
                row.published_raw = row.published
                row.published = row.indexed_at + FUTURE_SLACK
            batch.rows.append(row)
        return batch

    def _drop_gone(self, source: str, batch: _Batch) -> int:
        """A mirrored source (files) no longer holding an article lets it go."""
        gone = (self.store.source_article_ids(source) - {r.id for r in batch.rows}
                - set(batch.linked) - set(batch.shared))
        if gone:
            with self._dirty():
                self.store.delete_vectors(self.store.unlink_articles(source, gone))
        return len(gone)

    def _write_changed(self, source: str, changed: list[ArticleRow],
                       progress: Progress | None) -> int:
        """Split, embed and commit new and changed articles, `articles_per_commit` at a time:
        vectors go to Chroma first, then the SQLite commit makes them visible, then the old
        vectors go. Returns the passages embedded."""
        if not changed:
            if progress:
                progress(0, 0, source)
            return 0
        embedded = 0
        # split on another thread while the model embeds (`split_ahead`); the first commit is
        # small so that the model starts soon, and each is half as large again as the last, up
        # to `articles_per_commit`, so that the splitting keeps ahead; the progress total is
        # the passages split so far plus the rest at their mean, exact once all are split
        with self._dirty(), closing(split_ahead([(r.id, r.text, r.title)
                                                  for r in changed])) as split:
            done = split_count = 0
            i = 0
            size = float(FIRST_COMMIT)
            while i < len(changed):
                chunk = changed[i : i + min(self.articles_per_commit, int(size))]
                i += len(chunk)
                size *= 1.5
                passages = [p for _ in chunk for p in next(split)]
                split_count += len(passages)
                total = split_count + round((len(changed) - i) * split_count / i)
                old = self.store.passage_vectors_of([r.id for r in chunk])
                need = [p for p in passages if p.id not in old]
                kept = [p for p in passages if p.id in old]
                titles = {r.id: r.title for r in chunk}
                published = {r.id: r.published for r in chunk}

                def tick(n: int, before: int = done, total: int = total) -> None:
                    if progress:
                        progress(before + n, total, source)

                vectors = self._embed_and_upsert(need, titles, published, tick)
                embedded += len(need)
                if kept:  # same text, maybe a new date: the vector stays, its metadata follows
                    self.store.update_vector_meta(kept, published)
                    vectors.update({p.id: old[p.id] for p in kept})
                self.store.commit_articles(source, chunk, passages, titles, vectors)
                self.store.delete_vectors(set(old) - {p.id for p in passages})
                done += len(passages)
                if progress:
                    progress(done, total, source)
        return embedded

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
    def _visible(self, filters: Filters | None) -> Filters | None:
        """The filters with the sources named turned into store keys of the asker's scope and,
        when other servers hold sources, limited to what this scope sees."""
        f = filters or Filters()
        hidden = self.store.other_scopes_exist(f.server)
        if not hidden and not f.sources:
            return filters  # everything indexed is this scope's to see
        mine = {r.key for r in self.store.source_rows([None, f.server])}
        visible = (tuple(mine) or (NO_SOURCE,)) if hidden else ()
        if f.sources:  # a server's own source first, then a global one of that name
            keys = tuple(next((k for k in (source_key(f.server, n), n) if k in mine), NO_SOURCE)
                         for n in f.sources)
        else:
            keys = visible
        return replace(f, keys=keys, visible=visible)

    def search(self, question: str, k: int = 10, *, filters: Filters | None = None,
               now: datetime | None = None, mode: Mode = "hybrid") -> list[Hit]:
        filters = self._visible(filters)
        return self._read(lambda: search(
            self.store, self.embedder, question, k, config=self.config, now=now,
            filters=filters, mode=mode, ranker=self.ranker))

    def ask(self, question: str, *, filters: Filters | None = None, now: datetime | None = None,
            context: str | None = None, after: datetime | None = None, news: bool = False,
            phrased: bool = True) -> Answer:
        """A quoted answer or an abstention; with an LLM configured and `phrased`, a short
        phrasing of the quotes too, each sentence citing one."""
        filters = self._visible(filters)
        started = time.perf_counter()
        try:
            result = self._read(lambda: answer(
                self.store, self.embedder, self.ranker, question, config=self.config,
                filters=filters, now=now, context=context, after=after, news=news))
        except BaseException:
            metrics.QUESTIONS.labels("failed").inc()
            raise
        metrics.ANSWER_SECONDS.observe(time.perf_counter() - started)
        metrics.QUESTIONS.labels("declined" if result.abstained else "answered").inc()
        llm = self.llm
        if phrased and llm is not None and llm.enabled and not result.abstained:
            key = llm.api_key.get_secret_value() if llm.api_key else None
            result.phrasing = phrase(result, str(llm.base_url), str(llm.model), key)
        return result

    def latest(self, topic: str | None = None, n: int = 5, *,
               filters: Filters | None = None) -> list[Summary]:
        filters = self._visible(filters)
        return self._read(lambda: latest(self.store, self.embedder, topic, n=n,
                                         config=self.config, filters=filters))

    def timeline(self, topic: str, n: int = 10, *,
                 filters: Filters | None = None) -> Timeline:
        filters = self._visible(filters)
        return self._read(lambda: timeline(self.store, self.embedder, topic, n=n,
                                           config=self.config, filters=filters))

    def _read(self, run: Callable[[], T]) -> T:
        """Run a question; if it failed because the embedded Chroma's files broke under this
        process (a full disk), rebuild them from SQLite and run it once more."""
        try:
            return run()
        except NewsbotError:
            raise
        except Exception:
            if self.store.embedded_dir is None or self.store.vectors_unreadable() is None:
                raise
            self.check_vectors()
            return run()


def load_ranker(setting: str) -> SentenceRanker | None:
    """The answer ranker named by NEWSBOT_RERANKER: the shipped one by default, none for "off"."""
    if setting.strip().lower() in ("off", "none", "0", "false"):
        return None
    from index.ranker import BUNDLED, Ranker

    return Ranker(Path(setting) if setting.strip() else BUNDLED)


def _article_id(a: Article, canon: str | None) -> str:
    if a.id:
        return a.id
    if canon:
        return "u_" + _sha(canon)[:16]
    if a.key:
        return "f_" + _sha(a.key)[:16]
    return "t_" + _sha(a.title + "\0" + a.text)[:16]


def _default_name(location: str) -> str:
    if is_url(location):
        parts = urlsplit(location)
        tail = parts.path.strip("/").split("/")[-1] if parts.path.strip("/") else ""
        return f"{parts.hostname}{'/' + tail if tail else ''}"
    return Path(location).stem or Path(location).name
