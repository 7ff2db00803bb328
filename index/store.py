"""The store: articles, passages, sources and the lexical index in SQLite; vectors in Chroma.

SQLite is the manifest. A passage is visible only once its row is committed, and rows for one
article change in one transaction, so readers see an article's old or new passages, never a mix.
Vectors are written to Chroma *before* that commit and old ones deleted *after* it; search drops
vector hits that have no row, and `reconcile()` clears orphans left by a crash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import sqlite3
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import filelock
import numpy as np

from index.errors import ConfigError, IndexUnavailable
from index.models import ArticleRow, IndexStats, Passage, SourceInfo, SourceRow, StoredArticle
from index.text import content_terms, tokens

log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

COLLECTION = "newsbot_passages"
SCHEMA_VERSION = 5
MMAP_BYTES = 1 << 30
# How a data directory written by an older newsbot is brought up to date, step by step: the
# statements that take version N-1 to N. A copy of the file is kept before the first step.
MIGRATIONS: dict[int, list[str]] = {
    # 2: keep a source's publication date as given when it is capped (a date in the future)
    2: ["ALTER TABLE articles ADD COLUMN published_raw REAL"],
    # 3: sources belong to a scope (global, or one Discord server); servers have settings
    3: ["""CREATE TABLE sources_v3(
            name TEXT PRIMARY KEY, location TEXT NOT NULL, kind TEXT NOT NULL,
            added_at REAL NOT NULL, last_refresh REAL, last_error TEXT,
            scope TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '')""",
        """INSERT INTO sources_v3(name, location, kind, added_at, last_refresh, last_error,
               scope, label)
           SELECT name, location, kind, added_at, last_refresh, last_error, '', name
           FROM sources""",
        "DROP TABLE sources",
        "ALTER TABLE sources_v3 RENAME TO sources",
        "CREATE UNIQUE INDEX IF NOT EXISTS sources_scope_location ON sources(scope, location)",
        """CREATE TABLE IF NOT EXISTS server_settings(
            server TEXT PRIMARY KEY, settings TEXT NOT NULL DEFAULT '{}', left_at REAL)"""],
    # 4: stories: an article's story, the article it copies, its MinHash signature and bands
    4: ["ALTER TABLE articles ADD COLUMN story TEXT",
        "ALTER TABLE articles ADD COLUMN copy_of TEXT",
        "ALTER TABLE articles ADD COLUMN sketch BLOB",
        "CREATE INDEX IF NOT EXISTS articles_story ON articles(story)",
        """CREATE TABLE IF NOT EXISTS article_bands(
            band TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY(band, article_id))""",
        "CREATE INDEX IF NOT EXISTS article_bands_article ON article_bands(article_id)"],
    # 5: each passage's sentence offsets, found at index time (answers read them)
    5: ["ALTER TABLE passages ADD COLUMN sentences TEXT"],
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS sources(
    name TEXT PRIMARY KEY, location TEXT NOT NULL, kind TEXT NOT NULL,
    added_at REAL NOT NULL, last_refresh REAL, last_error TEXT,
    scope TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS sources_scope_location ON sources(scope, location);
CREATE TABLE IF NOT EXISTS server_settings(
    server TEXT PRIMARY KEY, settings TEXT NOT NULL DEFAULT '{}', left_at REAL);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, url TEXT, canonical_url TEXT,
    publisher TEXT, published REAL, author TEXT, category TEXT,
    text_hash TEXT NOT NULL, norm_hash TEXT NOT NULL, indexed_at REAL NOT NULL,
    published_raw REAL, story TEXT, copy_of TEXT, sketch BLOB);
CREATE INDEX IF NOT EXISTS articles_norm ON articles(norm_hash);
CREATE INDEX IF NOT EXISTS articles_story ON articles(story);
CREATE TABLE IF NOT EXISTS article_bands(
    band TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY(band, article_id));
CREATE INDEX IF NOT EXISTS article_bands_article ON article_bands(article_id);
CREATE INDEX IF NOT EXISTS articles_url ON articles(canonical_url);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS article_sources(
    source TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY(source, article_id));
CREATE INDEX IF NOT EXISTS article_sources_article ON article_sources(article_id);
CREATE TABLE IF NOT EXISTS passages(
    rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, article_id TEXT NOT NULL,
    position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL, sentences TEXT);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    title, text, content='passages', content_rowid='rid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS passages_ai AFTER INSERT ON passages BEGIN
    INSERT INTO passages_fts(rowid, title, text) VALUES (new.rid, new.title, new.text); END;
CREATE TRIGGER IF NOT EXISTS passages_ad AFTER DELETE ON passages BEGIN
    INSERT INTO passages_fts(passages_fts, rowid, title, text)
    VALUES ('delete', old.rid, old.title, old.text); END;
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT);
"""

# An article's columns as `commit_articles` writes them; a changed article is a new report, so
# its story, copy and signature are cleared for `stories.assign` to set again.
_ARTICLE_FIELDS = ("id", "title", "text", "url", "canonical_url", "publisher", "published",
                   "author", "category", "text_hash", "norm_hash", "indexed_at", "published_raw")
_ARTICLE_COLUMNS = ", ".join(_ARTICLE_FIELDS)
_PASSAGE_COLUMNS = 'id, article_id, position, start, "end", text, sentences'
_ARTICLE_UPDATE = ", ".join([*(f"{f}=excluded.{f}" for f in _ARTICLE_FIELDS[1:]),
                             "story=NULL", "copy_of=NULL", "sketch=NULL"])


def ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt else None


def from_ts(v: float | None) -> datetime | None:
    return datetime.fromtimestamp(v, UTC) if v is not None else None


def norm_hash(text: str) -> str:
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()


def _fold(word: str) -> str:
    """A word without its diacritics, as FTS5's unicode61 tokenizer folds it."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def porter(word: str) -> str:
    """A word as FTS5's porter tokenizer stores it: the original Porter algorithm, except that
    words under 3 or over 64 bytes pass through as they are ("us" stays "us", not "u")."""
    word = word.lower()
    stem = _PORTER.get(word)
    if stem is None:
        stem = _porter(word)
        if len(_PORTER) < 200_000:
            _PORTER[word] = stem
    return stem


# BM25 stems every word of ~100 candidate passages a question, most of them seen before
# (bench/profile_ask.py at 100k: 5,000 words a question, 3 ms uncached)
_PORTER: dict[str, str] = {}


def _porter(word: str) -> str:
    global _STEMMER
    if not 3 <= len(word.encode()) <= 64:
        return word
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("porter")
    return str(_STEMMER.stemWord(word))


_STEMMER: Any = None


def _within(words: list[str], counts: list[int], budget: int | None) -> list[str]:
    """The first words (rarest first) whose passage counts add up to at most `budget`."""
    if budget is None:
        return words
    kept, total = [], 0
    for word, n in zip(words, counts, strict=False):
        total += n
        if total > budget:
            break
        kept.append(word)
    return kept


def fts_query(question: str) -> str | None:
    terms = content_terms(question)
    if not terms:
        return None
    return " OR ".join(f'"{t}"' for t in terms)


class Store:
    # whether `term_stats` serves BM25 outside the full-text index (`search.bm25`)
    counts_terms = True
    TOTAL_TTL = 30.0  # seconds BM25 uses one passage count (a few percent off moves no score)
    # microseconds a passage, to limit a search to a window or some sources: fetching one of
    # Chroma's nearest and checking its scope (5.3 + 3), or reading a vector of the scope and
    # scoring it (6). bench/latency.py at 100k and 1M passages
    NEAR_COST = 8.5
    EXACT_COST = 6.0
    ORDERED_JOIN = "CROSS JOIN"  # a join SQLite runs in the order written
    # a scope holding at most this share of the articles is read first by `lexical`
    SMALL_SCOPE = 0.05
    # A scope of at most this many passages (18 MB) keeps its vectors in memory for TOTAL_TTL
    # seconds, for the last SCOPES_KEPT scopes, once searching it exactly is the cheaper way
    # (a week at 100k passages) or it has been asked about often enough within TOTAL_TTL
    # that reading its vectors once would have cost less than fetching Chroma's nearest each
    # time (a source: 10,000 vectors, 60 ms to read, against 750 of Chroma's nearest, 6 ms):
    # "this week" or one Discord server's sources is asked about again and again. A week's
    # 2,000 vectors cost 6 ms to read at 100k passages, 0.3 to score in memory.
    SCOPE_VECTORS = 12_000
    SCOPES_KEPT = 4
    # A scope of at most this many passages keeps which ones it holds (2 MB): the full-text
    # side reads FTS5's ranking until k of them have passed, the vector side limits Chroma's
    # nearest to them, without asking the store each time (a source, a tenth of 100k
    # passages: 3 ms to check 750 of Chroma's nearest, 0.1 in memory).
    SCOPE_MEMBERS = 20_000

    def __init__(self, data_dir: Path, chroma_client: Any) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._writer = filelock.FileLock(self.data_dir / "index.lock")
        self._mean_words: tuple[int, float] | None = None  # (at passage count, mean words)
        self._init_counts()
        # Writes, and reads inside a transaction, use this connection under `_lock`; other
        # reads use one connection per thread, so that questions read at once and none waits
        # for an index write (WAL: each reader sees the last commit).
        self._tx_thread: int | None = None
        self._readers = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self.db = self._connect()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._add_vocab(self.db)
        self._open_vectors(chroma_client)

    def _init_counts(self) -> None:
        """What is counted and kept for TOTAL_TTL seconds, each as (read at, value)."""
        self._totals: dict[str, tuple[float, int]] = {}  # table: rows
        self._df: dict[str, tuple[float, int]] = {}  # stem: passages holding it
        self._shares: dict[tuple[Any, ...], tuple[float, float]] = {}  # scope: share of articles
        self._span_stats: dict[tuple[str, ...], tuple[float, IndexStats]] = {}  # sources: stats
        # scope: (passage ids, their vectors as rows)
        self._scope_vectors: dict[tuple[Any, ...], tuple[float, tuple[list[str], np.ndarray]]] = {}
        # scope: (first search within TOTAL_TTL, searches since)
        self._scope_asks: dict[tuple[Any, ...], tuple[float, int]] = {}
        # scope: (row ids, passage ids) of its passages
        self._scope_members: dict[tuple[Any, ...], tuple[float, tuple[set[int], set[str]]]] = {}

    def _forget_counts(self) -> None:
        """After a write by this process: what it changed is counted again."""
        self._df.clear()
        self._shares.clear()
        self._span_stats.clear()
        self._scope_vectors.clear()
        self._scope_members.clear()

    def _fresh(self, kept: dict[K, tuple[float, V]], key: K, read: Callable[[], V],
               most: int = 1000) -> V:
        """`kept[key]`, read again when older than TOTAL_TTL seconds; the oldest of `most`
        is let go."""
        now = time.monotonic()
        got = kept.get(key)
        if got is None or now - got[0] > self.TOTAL_TTL:
            if len(kept) >= most:
                kept.pop(min(list(kept.items()), key=lambda kv: kv[1][0])[0], None)
            got = kept[key] = (now, read())
        return got[1]

    def _kept(self, kept: dict[K, tuple[float, V]], key: K) -> bool:
        got = kept.get(key)
        return got is not None and time.monotonic() - got[0] <= self.TOTAL_TTL

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.data_dir / "newsbot.sqlite3", check_same_thread=False,
                             timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        # reads map the file instead of copying each page: search at 100k passages p95 45 ms
        # without, 30 with (bench/latency.py). Pages read count in the process's resident
        # memory, as shared file pages the kernel can take back.
        db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        return db

    @staticmethod
    def _add_vocab(db: sqlite3.Connection) -> None:
        # each FTS5 term's passage count, for `fts_query` (a view of the index, nothing stored)
        db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_vocab USING "
                   "fts5vocab(main, 'passages_fts', 'row')")

    def _reader(self) -> sqlite3.Connection | None:
        """This thread's reading connection; None inside this thread's transaction, whose
        own writes only its connection sees."""
        if self._tx_thread == threading.get_ident():
            return None
        db: sqlite3.Connection | None = getattr(self._readers, "db", None)
        if db is None:
            db = self._connect()
            self._add_vocab(db)
            self._readers.db = db
            with self._conns_lock:  # (not `_lock`: a write may hold it)
                self._reader_conns.append(db)
        return db

    def _open_vectors(self, chroma_client: Any) -> None:
        self.chroma = chroma_client
        # one collection per index, so two indexes can share a Chroma server
        name = self.get_state("collection")
        if name is None:
            name = f"{COLLECTION}_{uuid.uuid4().hex[:12]}"
            self.set_state("collection", name)
        self.collection = self._open_collection(name)

    def _open_collection(self, name: str) -> Any:
        where = chroma_label(self.chroma)
        with chroma_errors(where):
            collection = self.chroma.get_or_create_collection(
                name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
        return collection if where is None else _Guarded(collection, where)

    @property
    def embedded_dir(self) -> Path | None:
        """Where an embedded Chroma keeps its files; None for a Chroma server."""
        s = self.chroma.get_settings()
        return Path(s.persist_directory) if s.is_persistent and s.persist_directory else None

    def vectors_unreadable(self) -> str | None:
        """None when Chroma counts, reads and queries the collection; else why not, in one line
        (files left empty or torn by a full disk or a crash)."""
        try:
            if self.collection.count():
                got = self.collection.get(limit=1, include=["embeddings"])
                self.collection.query(query_embeddings=[list(got["embeddings"][0])],
                                      n_results=1, include=[])
        except Exception as exc:  # Chroma's own errors name no common base for file damage
            return " ".join(str(exc).split())[:300] or type(exc).__name__
        return None

    def rebuild_vectors(self) -> None:
        """Replace an unreadable embedded collection by an empty one; `Engine.reconcile` then
        refills it from the vectors SQLite keeps."""
        root = self.embedded_dir
        old = {p for p in root.iterdir() if p.is_dir()} if root else set()
        name = self.collection.name
        try:
            self.chroma.delete_collection(name)
        except Exception:  # Chroma's own catalogue is damaged too: start it afresh
            if root is None:
                raise
            self.chroma.clear_system_cache()
            shutil.rmtree(root, ignore_errors=True)
            self.chroma = make_chroma_client(self.data_dir, None, 0)
        self.collection = self._open_collection(name)
        for path in old:  # the deleted collection's segment files
            shutil.rmtree(path, ignore_errors=True)
        self.set_state("dirty", "1")

    def _migrate(self) -> None:
        """Create the schema, or upgrade an older one in place (after a backup copy)."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        has_tables = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE name='passages'").fetchone() is not None
        if not has_tables:
            self.db.executescript(SCHEMA)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            return
        if version > SCHEMA_VERSION:
            raise ConfigError(f"{self.data_dir} was written by a newer newsbot (schema "
                              f"{version}; this one reads up to {SCHEMA_VERSION})")
        if version == SCHEMA_VERSION:
            return
        backup = self.data_dir / f"newsbot.sqlite3.v{version}.bak"
        log.warning("upgrading %s from schema %s to %s (a copy is kept in %s)",
                    self.data_dir, version, SCHEMA_VERSION, backup.name)
        with sqlite3.connect(backup) as copy:
            self.db.backup(copy)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for sql in MIGRATIONS[step]:
                    self.db.execute(sql)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        with self._lock, self._conns_lock:
            for db in self._reader_conns:
                db.close()
            self._reader_conns.clear()
            self._readers = threading.local()
            self.db.close()

    @contextmanager
    def writer_lock(self, wait: bool = False) -> Iterator[bool]:
        """An exclusive lock for writers, on a file beside the database (the OS releases it
        when a process dies); yields whether it was taken."""
        try:
            self._writer.acquire(timeout=-1 if wait else 0)
        except filelock.Timeout:
            yield False
            return
        try:
            yield True
        finally:
            self._writer.release()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            self._tx_thread = threading.get_ident()
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:  # SQLite may have rolled back already (disk full)
                    self.db.execute("ROLLBACK")
                raise
            finally:
                self._tx_thread = None
            try:
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self._forget_counts()

    def _q(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        db = self._reader()
        if db is not None:
            return db.execute(sql, args).fetchall()
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def _q_in_args(self, sql: str, ids: Iterable[Any], args: Sequence[Any]) -> list[sqlite3.Row]:
        """`_q_in` with further arguments after the ids."""
        rows: list[sqlite3.Row] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), 500):
            rows += self._q(sql.format(ids=",".join("?" * len(chunk))), [*chunk, *args])
        return rows

    def _q_in(self, sql: str, ids: Iterable[Any]) -> list[sqlite3.Row]:
        """`sql` with `{ids}` standing for a list of placeholders, run in chunks of 500 ids."""
        return self._q_in_args(sql, ids, ())

    # -- state ---------------------------------------------------------------------------------
    def get_state(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM state WHERE key=?", (key,))
        return rows[0]["value"] if rows else None

    def set_state(self, key: str, value: str | None) -> None:
        with self.transaction() as db:
            if value is None:
                db.execute("DELETE FROM state WHERE key=?", (key,))
            else:
                db.execute("INSERT INTO state(key, value) VALUES (?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    def claim_turn(self, key: str, now: float, every_s: float) -> bool:
        """Whether this process takes the turn of a periodic job: true when none ran it in the
        last `every_s` seconds (one atomic statement, so two processes never both take it)."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                "value=excluded.value WHERE CAST(state.value AS DOUBLE PRECISION) <= ?",
                (f"turn:{key}", repr(now), now - every_s))
            return bool(cur.rowcount)

    # -- sources -------------------------------------------------------------------------------
    def add_source(self, key: str, location: str, kind: str, server: str | None = None,
                   name: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sources(name, location, kind, added_at, scope, label) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, location, kind, time.time(), server or "", name or key),
            )

    _ROW = "SELECT name, location, kind, NULLIF(scope, ''), label FROM sources"

    def source_by_name(self, key: str) -> SourceRow | None:
        rows = self._q(f"{self._ROW} WHERE name=?", (key,))
        return SourceRow(*rows[0]) if rows else None

    def source_by_location(self, location: str, server: str | None = None) -> SourceRow | None:
        rows = self._q(f"{self._ROW} WHERE location=? AND scope=?", (location, server or ""))
        return SourceRow(*rows[0]) if rows else None

    def sources_at(self, location: str) -> list[SourceRow]:
        """Every scope's source for one location (read once, linked to each)."""
        return [SourceRow(*r) for r in self._q(f"{self._ROW} WHERE location=? ORDER BY added_at",
                                               (location,))]

    def source_rows(self, servers: Sequence[str | None] | None = None) -> list[SourceRow]:
        """Sources, oldest refresh first; `servers` limits them to some scopes (None: global)."""
        sql = self._ROW
        args: list[Any] = []
        if servers is not None:
            cond, args = _in_scopes("scope", servers)
            sql += f" WHERE {cond}"
        return [SourceRow(*r) for r in self._q(
            sql + " ORDER BY COALESCE(last_refresh, 0), added_at", args)]

    def count_sources(self, server: str | None) -> int:
        return int(self._q("SELECT COUNT(*) FROM sources WHERE scope=?", (server or "",))[0][0])

    def other_scopes_exist(self, server: str | None) -> bool:
        """Whether any source belongs to a server other than this one (else every article is
        visible to it, and nothing needs filtering)."""
        return bool(self._q("SELECT 1 FROM sources WHERE scope NOT IN ('', ?) LIMIT 1",
                            (server or "",)))

    def record_refresh(self, key: str, error: str | None, when: float | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE sources SET last_refresh=?, last_error=? WHERE name=?",
                (time.time() if when is None else when, error, key),
            )

    def list_sources(self, servers: Sequence[str | None] | None = None) -> list[SourceInfo]:
        where = ""
        args: list[Any] = []
        if servers is not None:
            cond, args = _in_scopes("s.scope", servers)
            where = f"WHERE {cond}"
        rows = self._q(
            f"""SELECT s.*, COUNT(DISTINCT a.article_id) AS n_articles,
                      (SELECT COUNT(*) FROM passages p JOIN article_sources x
                         ON p.article_id = x.article_id WHERE x.source = s.name) AS n_passages
               FROM sources s LEFT JOIN article_sources a ON a.source = s.name {where}
               GROUP BY s.name ORDER BY s.scope != '', s.added_at""", args
        )
        return [
            SourceInfo(
                name=r["label"] or r["name"], location=r["location"], kind=r["kind"],
                articles=r["n_articles"], passages=r["n_passages"],
                last_refresh=from_ts(r["last_refresh"]), last_error=r["last_error"],
                server=r["scope"] or None,
            )
            for r in rows
        ]

    # -- servers -------------------------------------------------------------------------------
    def server_settings(self, server: str) -> dict[str, Any]:
        rows = self._q("SELECT settings FROM server_settings WHERE server=?", (server,))
        return dict(json.loads(rows[0][0])) if rows else {}

    def all_server_settings(self) -> dict[str, dict[str, Any]]:
        return {r[0]: json.loads(r[1]) for r in self._q(
            "SELECT server, settings FROM server_settings")}

    def save_server_settings(self, server: str, settings: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO server_settings(server, settings) VALUES (?, ?) "
                       "ON CONFLICT(server) DO UPDATE SET settings=excluded.settings",
                       (server, json.dumps(settings, sort_keys=True)))

    def mark_server(self, server: str, left_at: float | None) -> None:
        with self.transaction() as db:
            if left_at is None:  # (back) in the server: nothing to forget
                db.execute("UPDATE server_settings SET left_at=NULL WHERE server=?", (server,))
            else:
                db.execute("INSERT INTO server_settings(server, left_at) VALUES (?, ?) "
                           "ON CONFLICT(server) DO UPDATE SET left_at=excluded.left_at",
                           (server, left_at))

    def servers_left_before(self, when: float) -> list[str]:
        return [r[0] for r in self._q(
            "SELECT server FROM server_settings WHERE left_at IS NOT NULL AND left_at < ?",
            (when,))]

    def forget_server(self, server: str, left_before: float) -> list[str] | None:
        """Drop a server's sources (articles no other scope holds go too) and its settings, if
        it still counts as left before that time; returns the passage ids to drop (None when it
        came back)."""
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM server_settings WHERE server=? AND left_at < ?",
                              (server, left_before)).fetchone():
                return None
            keys = [r[0] for r in db.execute("SELECT name FROM sources WHERE scope=?",
                                             (server,))]
            db.execute("DELETE FROM server_settings WHERE server=?", (server,))
            return self._delete_sources(db, keys)

    def delete_source(self, name: str) -> list[str]:
        """Remove a source and the articles no other source holds. Returns passage ids to drop."""
        with self.transaction() as db:
            return self._delete_sources(db, [name])

    def _delete_sources(self, db: sqlite3.Connection, keys: list[str]) -> list[str]:
        """Inside a transaction: the sources, their memberships, and the articles no other
        source holds. Returns the passage ids to drop from Chroma."""
        if not keys:
            return []
        held, args = _held_by("article_id", keys)
        ids = [r[0] for r in db.execute(
            f"SELECT DISTINCT article_id FROM article_sources WHERE {held}", args)]
        db.executemany("DELETE FROM article_sources WHERE source=?", [(k,) for k in keys])
        db.executemany("DELETE FROM sources WHERE name=?", [(k,) for k in keys])
        return self._drop_orphans(db, ids)

    def unlink_articles(self, source: str, article_ids: Iterable[str]) -> list[str]:
        with self.transaction() as db:
            ids = list(article_ids)
            db.executemany(
                "DELETE FROM article_sources WHERE source=? AND article_id=?",
                [(source, a) for a in ids],
            )
            return self._drop_orphans(db, ids)

    def _drop_orphans(self, db: sqlite3.Connection, article_ids: list[str]) -> list[str]:
        dropped: list[str] = []
        for aid in article_ids:
            if db.execute("SELECT 1 FROM article_sources WHERE article_id=?", (aid,)).fetchone():
                continue
            dropped += [r[0] for r in db.execute(
                "SELECT id FROM passages WHERE article_id=?", (aid,))]
            db.execute("DELETE FROM passages WHERE article_id=?", (aid,))
            db.execute("DELETE FROM article_bands WHERE article_id=?", (aid,))
            db.execute("DELETE FROM articles WHERE id=?", (aid,))
        return dropped

    def source_article_ids(self, source: str) -> set[str]:
        return {r[0] for r in self._q(
            "SELECT article_id FROM article_sources WHERE source=?", (source,))}

    # -- articles ------------------------------------------------------------------------------
    def article_claims(self, ids: Sequence[str]) -> dict[str, tuple[str, set[str]]]:
        """For stored articles among `ids`: (normalised-text hash, the sources holding it)."""
        rows = self._q_in(
            "SELECT a.id, a.norm_hash, s.source FROM articles a LEFT JOIN article_sources s "
            "ON s.article_id = a.id WHERE a.id IN ({ids})", ids)
        out: dict[str, tuple[str, set[str]]] = {}
        for r in rows:
            holders = out.setdefault(r[0], (r[1], set()))[1]
            if r[2]:
                holders.add(r[2])
        return out

    def article_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        rows = self._q_in("SELECT id, text_hash FROM articles WHERE id IN ({ids})", ids)
        return {r["id"]: r["text_hash"] for r in rows}

    def article_by_norm_hash(self, h: str, sources: Sequence[str] | None = None) -> str | None:
        """An article with this normalised text; with `sources`, only one they hold."""
        if sources is None:
            rows = self._q("SELECT id FROM articles WHERE norm_hash=? LIMIT 1", (h,))
        elif not sources:
            return None
        else:
            held, args = _held_by("id", sources)
            rows = self._q(f"SELECT id FROM articles WHERE norm_hash=? AND {held} LIMIT 1",
                           (h, *args))
        return rows[0]["id"] if rows else None

    def link(self, source: str, article_ids: Iterable[str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO article_sources(source, article_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING", [(source, a) for a in article_ids],
            )

    def passage_vectors_of(self, article_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these articles' current passages, by passage id."""
        rows = self._q_in("SELECT id, vector FROM passages WHERE article_id IN ({ids})",
                          article_ids)
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def commit_articles(self, source: str, rows: list[ArticleRow], passages: list[Passage],
                        titles: dict[str, str], vectors: dict[str, np.ndarray]) -> None:
        """Replace the given articles and their passages in one transaction."""
        with self.transaction() as db:
            for r in rows:
                db.execute("DELETE FROM passages WHERE article_id=?", (r.id,))
                db.execute(
                    f"""INSERT INTO articles({_ARTICLE_COLUMNS})
                       VALUES ({",".join("?" * len(_ARTICLE_FIELDS))})
                       ON CONFLICT(id) DO UPDATE SET {_ARTICLE_UPDATE}""",
                    [asdict(r)[f] for f in _ARTICLE_FIELDS],
                )
                db.execute(
                    "INSERT INTO article_sources(source, article_id) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING", (source, r.id),
                )
            db.executemany(
                """INSERT INTO passages(id, article_id, position, start, "end", title, text,
                   vector, sentences) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(p.id, p.article_id, p.position, p.start, p.end, titles[p.article_id], p.text,
                  np.asarray(vectors[p.id], dtype=np.float32).tobytes(),
                  _spans_text(p.sentences)) for p in passages],
            )

    # -- stories ---------------------------------------------------------------------------
    def articles_without_story(self) -> list[str]:
        return [r[0] for r in self._q("SELECT id FROM articles WHERE story IS NULL "
                                      "ORDER BY published IS NULL, published, indexed_at")]

    def copy_candidates(self, band_keys: Sequence[str], exclude: str
                        ) -> list[tuple[str, np.ndarray, str, str | None]]:
        """(id, signature, story, copy_of) of the articles sharing one of these LSH bands."""
        rows = self._q_in_args(
            "SELECT id, sketch, COALESCE(story, id), copy_of FROM articles WHERE id IN "
            "(SELECT article_id FROM article_bands WHERE band IN ({ids})) AND id != ? "
            "AND sketch IS NOT NULL", band_keys, [exclude])
        return [(r[0], np.frombuffer(r[1], dtype=np.uint64), r[2], r[3]) for r in rows]

    def set_story(self, article_id: str, story: str, copy_of: str | None,
                  signature: np.ndarray, band_keys: Sequence[str]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE articles SET story=?, copy_of=?, sketch=? WHERE id=?",
                       (story, copy_of, signature.tobytes(), article_id))
            db.execute("DELETE FROM article_bands WHERE article_id=?", (article_id,))
            db.executemany("INSERT INTO article_bands(band, article_id) VALUES (?, ?) "
                           "ON CONFLICT DO NOTHING", [(b, article_id) for b in band_keys])

    def article_vectors(self, article_ids: Sequence[str]) -> dict[str, list[np.ndarray]]:
        """Each article's passage vectors, from SQLite."""
        out: dict[str, list[np.ndarray]] = {}
        for r in self._q_in("SELECT article_id, vector FROM passages WHERE article_id IN ({ids})",
                            article_ids):
            out.setdefault(r[0], []).append(np.frombuffer(r[1], dtype=np.float32))
        return out

    def story_members(self, stories: Sequence[str], sources: Sequence[str] = (),
                      since: float | None = None, until: float | None = None
                      ) -> dict[str, list[StoredArticle]]:
        """The articles of these stories (held by these sources, published in this window, when
        given), oldest first."""
        out: dict[str, list[StoredArticle]] = {}
        conds, args = _scope_sql("articles", since, until, sources)
        extra = "".join(f" AND {c}" for c in conds)
        for chunk in _chunks(list(dict.fromkeys(stories)), 400):
            marks = ",".join("?" * len(chunk))
            # two conditions, so that each can use its index (story, and the primary key)
            rows = self._q(
                f"SELECT * FROM articles WHERE (story IN ({marks}) OR (story IS NULL AND id IN "
                f"({marks}))){extra} ORDER BY published IS NULL, published, indexed_at",
                [*chunk, *chunk, *args])
            for r in rows:
                a = _article(r)
                out.setdefault(a.story_id, []).append(a)
        return out

    def get_articles(self, ids: Iterable[str]) -> dict[str, StoredArticle]:
        rows = self._q_in("SELECT * FROM articles WHERE id IN ({ids})", ids)
        return {r["id"]: _article(r) for r in rows}

    def get_passages(self, ids: Iterable[str]) -> dict[str, Passage]:
        rows = self._q_in(f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE id IN ({{ids}})", ids)
        return {r["id"]: _passage(r) for r in rows}

    def passages_of_article(self, article_id: str) -> list[Passage]:
        return [_passage(r) for r in self._q(
            f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE article_id=? ORDER BY position",
            (article_id,))]

    def latest_articles(self, n: int, since: float | None = None, until: float | None = None,
                        ids: Sequence[str] | None = None,
                        sources: Sequence[str] = ()) -> list[StoredArticle]:
        sql = "SELECT * FROM articles"
        conds, args = _scope_sql("articles", since, until, sources)
        if ids is not None:
            if not ids:
                return []
            conds.append(f"id IN ({','.join('?' * len(ids))})")
            args += list(ids)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += " ORDER BY published IS NULL, published DESC, indexed_at DESC LIMIT ?"
        args.append(n)
        return [_article(r) for r in self._q(sql, args)]

    def stats(self, sources: Sequence[str] = (), passages: bool = True) -> IndexStats:
        """Counts and the publication span, of some sources' articles only when given; the
        passages counted only with `passages`: an abstention does not show them, and counting
        them cost PostgreSQL 26 ms a question at 100k passages. Without them, what was read is
        kept for TOTAL_TTL seconds (3.4 ms an abstention at 100k passages on SQLite)."""
        if not passages:
            return self._fresh(self._span_stats, tuple(sources),
                               lambda: self._article_stats(sources))
        conds, args = _scope_sql("articles", None, None, sources)
        n = self.passage_count() if not sources else int(self._q(
            "SELECT COUNT(*) FROM passages WHERE article_id IN "
            f"(SELECT id FROM articles WHERE {' AND '.join(conds)})", args)[0][0])
        return replace(self._article_stats(sources), passages=n)

    def _article_stats(self, sources: Sequence[str]) -> IndexStats:
        """The articles' count and publication span (of some sources' only, when given)."""
        conds, args = _scope_sql("articles", None, None, sources)
        where = " WHERE " + " AND ".join(conds) if conds else ""
        r = self._q("SELECT COUNT(*) AS n, MIN(published) AS lo, MAX(published) AS hi "
                    f"FROM articles{where}", args)[0]
        return IndexStats(articles=r["n"], passages=0, first=from_ts(r["lo"]),
                          last=from_ts(r["hi"]))

    def passage_count(self) -> int:
        return int(self._q("SELECT COUNT(*) FROM passages")[0][0])

    def all_passage_ids(self) -> set[str]:
        return {r[0] for r in self._q("SELECT id FROM passages")}

    # -- lexical -------------------------------------------------------------------------------
    def fts_query(self, question: str, max_terms: int | None = None,
                  max_postings: int | None = None) -> str | None:
        """The FTS5 query for a question: its content words OR-ed; with `max_terms`, only that
        many of them, the rarest in the index (FTS5's vocabulary gives each stem's passage
        count), and none the index lacks; with `max_postings`, only the rarest whose passage
        counts add up to at most that. BM25 weighs a common word little anyway, and an OR
        over it makes FTS5 read and rank every passage that holds it."""
        if max_terms is None and max_postings is None:
            return fts_query(question)
        terms = content_terms(question)
        stems = {t: porter(t) for t in terms}
        df = self._doc_counts(stems.values())
        ranked = sorted((t for t in terms if df.get(stems[t])), key=lambda t: df[stems[t]])
        kept = _within(ranked[:max_terms], [df[stems[t]] for t in ranked], max_postings)
        return " OR ".join(f'"{t}"' for t in kept) or None

    def term_stats(self, stems: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        """For BM25 outside FTS5: the passage count, the mean passage length in words (measured
        again when the index has grown or shrunk by a fifth) and each stem's passage count."""
        n = self._passage_total()
        at, mean = self._mean_words or (0, 1.0)
        if not 0.8 * at <= n <= 1.25 * at:  # measured again when the index grew or shrank
            row = self._q("SELECT AVG(LENGTH(text) - LENGTH(REPLACE(text, ' ', '')) + 1) "
                          "FROM passages")[0][0]
            at, mean = n, float(row or 1.0)
            self._mean_words = (at, mean)
        return n, mean, self._doc_counts(stems)

    def name_counts(self, names: Sequence[str]) -> tuple[int, dict[str, int]]:
        """The passage count, and how many passages of the whole index hold each name: its
        rarest word as FTS5 stores it ("U.S" is "u" and "s", "Zürich" "zurich"), from the
        counts BM25 uses; a store without them (PostgreSQL) gives none."""
        if not self.counts_terms or not names:
            return 0, {}
        stems = {n: [porter(_fold(w)) for w in tokens(n)] for n in names}
        df = self._doc_counts(s for ss in stems.values() for s in ss)
        return self._passage_total(), {n: min((df.get(s, 0) for s in ss), default=0)
                                       for n, ss in stems.items()}

    def _passage_total(self) -> int:
        """The passage count, read again after TOTAL_TTL seconds (2.3 ms at 100k passages)."""
        return self._fresh(self._totals, "passages", lambda: self._row_count("passages"))

    def _row_count(self, table: str) -> int:
        """How many rows a table holds, for weighing one search path against another."""
        return int(self._q(f"SELECT COUNT(*) FROM {table}")[0][0])

    def _doc_counts(self, stems: Iterable[str]) -> dict[str, int]:
        """How many passages hold each stem (FTS5's vocabulary); stems none holds are absent.
        Counts are kept for TOTAL_TTL seconds (each look-up cost 2.5 ms at 100k passages);
        a stem found in none is asked again each time, so a new word is found at once."""
        now = time.monotonic()
        out: dict[str, int] = {}
        ask = []
        for stem in dict.fromkeys(stems):
            kept = self._df.get(stem)
            if kept is not None and now - kept[0] < self.TOTAL_TTL:
                out[stem] = kept[1]
            else:
                ask.append(stem)
        if ask:
            if len(self._df) > 100_000:
                self._df.clear()
            for r in self._q(f"SELECT term, doc FROM temp.passages_vocab WHERE term IN "
                             f"({','.join('?' * len(ask))})", ask):
                out[r[0]] = int(r[1])
                self._df[r[0]] = (now, int(r[1]))
        return out

    def lexical(self, question: str, k: int, since: float | None = None,
                until: float | None = None, sources: Sequence[str] = (),
                max_terms: int | None = None,
                max_postings: int | None = None) -> list[tuple[str, float]]:
        """(passage id, BM25 score, higher is better) for the top k passages.

        Without a scope, FTS5 ranks its matches by itself and only the best k are joined to
        their passages: joining every match first cost 10 ms at the median and 35 at p95 at
        100k passages, against 6 and 13 (bench/latency.py). Within a small share of the index
        (`SMALL_SCOPE`: a week is 2% of a year), or one whose passages are kept in memory
        (`SCOPE_MEMBERS`), FTS5's ranking is read until k passages of the scope have passed
        (12 and 48 ms joined, 11 and 22 so, at 100k); within a larger one, every match is
        joined and limited before ranking (reading the scope's passages each time cost more: a
        tenth of the index, 11 and 35 ms joined, 18 and 62 so)."""
        q = self.fts_query(question, max_terms, max_postings)
        if q is None:
            return []
        scope, scope_args = _scope_sql("a", since, until, sources)
        ranked = ("SELECT rowid AS r, bm25(passages_fts, 0.5, 1.0) AS s FROM passages_fts "
                  "WHERE passages_fts MATCH ? ORDER BY s")
        try:
            members = self._members(scope, scope_args) if scope else None
            held = members[0] if members is not None else None
            if held is None and scope and self._share(scope, scope_args) <= self.SMALL_SCOPE:
                # (the row ids only: the passages' index covers them, 0.9 ms for a week at
                # 100k passages against 1.5 with the passage ids)
                held = {r[0] for r in self._scope_passages("p.rid", scope, scope_args)}
            if held is not None:
                best: list[tuple[int, float]] = []
                db = self._reader()
                with nullcontext() if db is not None else self._lock:
                    cur = (db or self.db).execute(ranked, (q,))
                    for rid, score in cur:
                        if rid in held:
                            best.append((rid, -float(score)))
                            if len(best) == k:
                                break
                    cur.close()
                ids = {r[0]: r[1] for r in self._q_in(
                    "SELECT rid, id FROM passages WHERE rid IN ({ids})", [r for r, _ in best])}
                return [(ids[r], score) for r, score in best if r in ids]
            if scope:
                sql = ("SELECT p.id, -bm25(passages_fts, 0.5, 1.0) AS s FROM passages_fts "
                       "JOIN passages p ON p.rid = passages_fts.rowid "
                       "JOIN articles a ON a.id = p.article_id "
                       f"WHERE passages_fts MATCH ? AND {' AND '.join(scope)} "
                       "ORDER BY s DESC LIMIT ?")
            else:
                sql = (f"SELECT p.id, -f.s FROM ({ranked} LIMIT ?) f "
                       "JOIN passages p ON p.rid = f.r ORDER BY f.s")
            return [(r[0], float(r[1])) for r in self._q(sql, [q, *scope_args, k])]
        except sqlite3.OperationalError as exc:
            log.warning("lexical query failed for %r: %s", question, exc)
            return []

    def _members(self, conds: list[str], args: list[Any]) -> tuple[set[int], set[str]] | None:
        """The row and passage ids of a scope's passages, kept for TOTAL_TTL seconds, when it
        holds at most SCOPE_MEMBERS passages (going by its share of the articles)."""
        key = (tuple(conds), tuple(args))
        if not self._kept(self._scope_members, key) and (
                self._share(conds, args) * self._passage_total() > self.SCOPE_MEMBERS):
            return None

        def read() -> tuple[set[int], set[str]]:
            rows = self._scope_passages("p.rid, p.id", conds, args)
            return {r[0] for r in rows}, {r[1] for r in rows}

        return self._fresh(self._scope_members, key, read, self.SCOPES_KEPT)

    def _scope_passages(self, columns: str, conds: list[str], args: list[Any]) -> list[Any]:
        """`columns` (of passages `p` and articles `a`) of every passage a scope holds."""
        return self._q(f"SELECT {columns} FROM passages p JOIN articles a "
                       f"ON a.id = p.article_id WHERE {' AND '.join(conds)}", args)

    def _asked(self, key: tuple[Any, ...]) -> int:
        """How many times a scope has been searched within TOTAL_TTL, this time included."""
        now = time.monotonic()
        first, n = self._scope_asks.get(key, (now, 0))
        if now - first > self.TOTAL_TTL:
            first, n = now, 0
        if len(self._scope_asks) >= 1000:
            self._scope_asks.clear()
        self._scope_asks[key] = (first, n + 1)
        return n + 1

    def _share(self, conds: list[str], args: list[Any]) -> float:
        """The share of the articles that a scope's conditions hold, counted again after
        TOTAL_TTL seconds (a source's count took 3.6 ms at 100k passages)."""
        def read() -> float:
            n = self._q(f"SELECT COUNT(*) FROM articles a WHERE {' AND '.join(conds)}",
                        args)[0][0]
            return float(n) / max(1, self._row_count("articles"))

        return self._fresh(self._shares, (tuple(conds), tuple(args)), read)

    def mentions_anywhere(self, name: str, sources: Sequence[str] = ()) -> bool:
        """Whether any passage or title (of some sources' articles, when given) holds the
        name's words (FTS5's porter stems)."""
        words = tokens(name)
        if not words:
            return True
        query = " AND ".join(f'"{w}"' for w in words)
        where = ""
        args: list[Any] = []
        if sources:
            held, args = _held_by("p.article_id", sources)
            where = f" AND {held}"
        try:
            return bool(self._q(
                "SELECT 1 FROM passages_fts JOIN passages p ON p.rid = passages_fts.rowid "
                f"WHERE passages_fts MATCH ?{where} LIMIT 1", (query, *args)))
        except sqlite3.OperationalError:
            return True

    def lexical_scores(self, question: str, passage_ids: Sequence[str]) -> dict[str, float]:
        q = fts_query(question)
        if q is None or not passage_ids:
            return {}
        marks = ",".join("?" * len(passage_ids))
        sql = (f"SELECT p.id, -bm25(passages_fts, 0.5, 1.0) FROM passages_fts "
               f"JOIN passages p ON p.rid = passages_fts.rowid "
               f"WHERE passages_fts MATCH ? AND p.id IN ({marks})")
        try:
            return {r[0]: float(r[1]) for r in self._q(sql, [q, *passage_ids])}
        except sqlite3.OperationalError:
            return {}

    # -- vectors -------------------------------------------------------------------------------
    def upsert_vectors(self, passages: Sequence[Passage], vectors: np.ndarray,
                       published: dict[str, float | None]) -> None:
        for i in range(0, len(passages), 1000):
            chunk = passages[i : i + 1000]
            self.collection.upsert(
                ids=[p.id for p in chunk],
                embeddings=vectors[i : i + len(chunk)],
                metadatas=[_vec_meta(p.article_id, published.get(p.article_id)) for p in chunk],
            )

    def update_vector_meta(self, passages: Sequence[Passage],
                           published: dict[str, float | None]) -> None:
        for chunk in _chunks(list(passages), 1000):
            self.collection.update(
                ids=[p.id for p in chunk],
                metadatas=[_vec_meta(p.article_id, published.get(p.article_id)) for p in chunk],
            )

    def delete_vectors(self, ids: Iterable[str]) -> None:
        for chunk in _chunks(list(ids), 1000):
            self.collection.delete(ids=chunk)

    def all_vector_ids(self) -> set[str]:
        out: set[str] = set()
        offset, page = 0, 5000
        while True:
            got = self.collection.get(include=[], limit=page, offset=offset)["ids"]
            out |= set(got)
            if len(got) < page:
                return out
            offset += page

    def dense(self, vector: np.ndarray, k: int, since: float | None = None,
              until: float | None = None,
              sources: Sequence[str] = ()) -> list[tuple[str, float]]:
        """(passage id, cosine similarity) for the k nearest vectors.

        Within a window or some sources (a filter, or what one Discord server sees), Chroma's
        nearest are fetched, enough for 1.5 k of them to be in the scope going by its share of
        the index, and limited here; a shortfall fetches four times as many. Once fetching would
        cost more than reading the scope's vectors (`NEAR_COST`, `EXACT_COST`), or once a
        scope of `SCOPE_VECTORS` at most has been asked about often enough that keeping its
        vectors in memory costs less, the scope is searched exactly. A Chroma `where` scans
        every id it matches: a week (2% of the index) cost 31 ms at 100k passages, against 10
        exactly (bench/latency.py)."""
        if since is None and until is None and not sources:
            return self._dense_chroma(vector, k)
        conds, args = _scope_sql("a", since, until, sources)
        key = (tuple(conds), tuple(args))
        if self._kept(self._scope_vectors, key):
            return self._dense_exact(vector, k, since, until, sources, keep=True)
        share = self._share(conds, args)
        in_scope = share * self._passage_total()
        want = max(k, math.ceil(1.5 * k / share)) if share else 0
        if in_scope <= self.SCOPE_VECTORS and (
                self._asked(key) * want * self.NEAR_COST >= in_scope * self.EXACT_COST):
            return self._dense_exact(vector, k, since, until, sources, keep=True)
        members = self._members(conds, args)
        # (SQLite starts from the ids given, not from the scope: 3 ms for 1,000, not 9)
        conds, args = _scope_sql("a", since, until, sources, per_row=True)
        while want and want * self.NEAR_COST < in_scope * self.EXACT_COST:
            near = self._dense_chroma(vector, want)
            held = members[1] if members is not None else {r[0] for r in self._q_in_args(
                f"SELECT p.id FROM passages p {self.ORDERED_JOIN} articles a "
                "ON a.id = p.article_id "
                f"WHERE p.id IN ({{ids}}) AND {' AND '.join(conds)}", [i for i, _ in near], args)}
            kept = [(i, s) for i, s in near if i in held]
            if len(kept) >= k or len(near) < want:
                return kept[:k]
            want *= 4
        return self._dense_exact(vector, k, since, until, sources,
                                 keep=in_scope <= self.SCOPE_VECTORS)

    def _dense_chroma(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        # (an empty collection answers with no ids: no need to count it first, which cost
        # 27 ms a question at 100k passages, profiled beside other jobs)
        res = self.collection.query(query_embeddings=[vector.tolist()], n_results=k,
                                    include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def dense_many(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        """The k nearest passages to each of several vectors, in one Chroma query."""
        res = self.collection.query(query_embeddings=vectors.tolist(), n_results=k,
                                    include=["distances"])
        return [[(i, 1.0 - float(d)) for i, d in zip(ids, ds, strict=True)]
                for ids, ds in zip(res["ids"], res["distances"], strict=True)]

    def _dense_exact(self, vector: np.ndarray, k: int, since: float | None,
                     until: float | None, sources: Sequence[str],
                     keep: bool = False) -> list[tuple[str, float]]:
        """Nearest passages of a scope, exactly, from the vectors the store keeps (or, `keep`,
        from memory, `SCOPE_VECTORS`): a scope is a small share of the index, which a Chroma
        `where` would scan id by id."""
        conds, args = _scope_sql("a", since, until, sources)

        def read() -> tuple[list[str], np.ndarray]:
            rows = self._q("SELECT p.id, p.vector FROM passages p JOIN articles a "
                           "ON a.id = p.article_id WHERE " + " AND ".join(conds), args)
            mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            return [r[0] for r in rows], mat.reshape(len(rows), -1) if rows else mat

        ids, mat = (self._fresh(self._scope_vectors, (tuple(conds), tuple(args)), read,
                                self.SCOPES_KEPT) if keep else read())
        if not ids:
            return []
        sims = mat @ np.asarray(vector, dtype=np.float32)
        top = np.argpartition(-sims, k)[:k] if len(ids) > k else np.arange(len(ids))
        return [(ids[i], float(sims[i])) for i in sorted(top, key=lambda i: -sims[i])]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Passage vectors from SQLite, the copy that is always in step with the manifest."""
        rows = self._q_in("SELECT id, vector FROM passages WHERE id IN ({ids})", ids)
        return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}

    def published_of(self, passage_ids: Sequence[str]) -> dict[str, float | None]:
        rows = self._q_in(
            "SELECT p.article_id, a.published FROM passages p JOIN articles a "
            "ON a.id = p.article_id WHERE p.id IN ({ids})", passage_ids)
        return {r[0]: r[1] for r in rows}


def _scope_sql(article: str, since: float | None, until: float | None,
               sources: Sequence[str], per_row: bool = False) -> tuple[list[str], list[Any]]:
    """SQL conditions (and their arguments) limiting rows to a publication window and some
    sources; `article` is how the query names the articles table ("a", "articles"). With
    `per_row`, each article's sources are looked up, for a query that starts from a few rows
    (the sources' articles are listed otherwise)."""
    conds: list[str] = []
    args: list[Any] = []
    if since is not None:
        conds.append(f"{article}.published >= ?")
        args.append(since)
    if until is not None:
        conds.append(f"{article}.published < ?")
        args.append(until)
    if sources and per_row:
        conds.append(f"EXISTS (SELECT 1 FROM article_sources s WHERE s.article_id = {article}.id"
                     f" AND s.source IN ({','.join('?' * len(sources))}))")
        args += list(sources)
    elif sources:
        held, more = _held_by(f"{article}.id", sources)
        conds.append(held)
        args += more
    return conds, args


def _held_by(column: str, sources: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL (and its arguments) saying that the article id in `column` is held by one of these
    sources."""
    return (f"{column} IN (SELECT article_id FROM article_sources WHERE source IN "
            f"({','.join('?' * len(sources))}))", list(sources))


def _in_scopes(column: str, servers: Sequence[str | None]) -> tuple[str, list[Any]]:
    """SQL saying that a source's scope (`column`) is one of these: None is global ('')."""
    return f"{column} IN ({','.join('?' * len(servers))})", [s or "" for s in servers]


def _vec_meta(article_id: str, published: float | None) -> dict[str, Any]:
    return {"article_id": article_id, "published": float(published) if published else -1.0}


def _chunks(items: list[T], n: int) -> Iterator[list[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _article(r: sqlite3.Row) -> StoredArticle:
    return StoredArticle(
        id=r["id"], title=r["title"], text=r["text"], url=r["url"], publisher=r["publisher"],
        published=from_ts(r["published"]), author=r["author"], category=r["category"],
        text_hash=r["text_hash"], story=r["story"], copy_of=r["copy_of"],
    )


def _passage(r: sqlite3.Row) -> Passage:
    return Passage(id=r["id"], article_id=r["article_id"], position=r["position"],
                   start=r["start"], end=r["end"], text=r["text"],
                   sentences=_spans(r["sentences"]))


def _spans_text(spans: Sequence[tuple[int, int]]) -> str | None:
    """Sentence offsets as stored: "0 45,46 90"."""
    return ",".join(f"{s} {e}" for s, e in spans) or None


def _spans(value: str | None) -> tuple[tuple[int, int], ...]:
    if not value:
        return ()
    out = []
    for pair in value.split(","):
        s, e = pair.split()
        out.append((int(s), int(e)))
    return tuple(out)


def make_chroma_client(data_dir: Path, host: str | None, port: int) -> Any:
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if host:
        with chroma_errors(f"the Chroma server at {host}:{port}"):
            return chromadb.HttpClient(host=host, port=port, settings=settings)
    return chromadb.PersistentClient(path=str(Path(data_dir) / "chroma"), settings=settings)


def chroma_label(client: Any) -> str | None:
    """"the Chroma server at HOST:PORT" for a server's client; None for an embedded one."""
    s = client.get_settings()
    if s.is_persistent and s.persist_directory:
        return None
    return f"the Chroma server at {s.chroma_server_host}:{s.chroma_server_http_port}"


@contextmanager
def chroma_errors(where: str | None) -> Iterator[None]:
    """A Chroma server that cannot be reached (refused, reset, timed out, restarting) becomes
    `IndexUnavailable` naming it; other errors pass."""
    try:
        yield
    except Exception as exc:
        if where is not None and _unreachable(exc):
            raise IndexUnavailable(where, str(exc) or type(exc).__name__) from exc
        raise


def _unreachable(exc: BaseException) -> bool:
    import httpx

    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, httpx.TransportError | ConnectionError) or (
                isinstance(e, ValueError) and "could not connect" in str(e).lower()):
            return True
        e = e.__cause__ or e.__context__
    return False


class _Guarded:
    """A Chroma server's collection whose calls raise `IndexUnavailable` when the server cannot
    be reached; the client reconnects by itself on the next call."""

    def __init__(self, collection: Any, where: str) -> None:
        self._collection = collection
        self._where = where

    @property
    def name(self) -> str:
        return str(self._collection.name)

    def __getattr__(self, attr: str) -> Any:
        fn = getattr(self._collection, attr)
        if not callable(fn):
            return fn

        def call(*args: Any, **kwargs: Any) -> Any:
            with chroma_errors(self._where):
                return fn(*args, **kwargs)
        return call


