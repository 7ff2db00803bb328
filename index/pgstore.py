"""The store on PostgreSQL: sources, articles, passages, state and the lexical index in a database
server, so that bot processes on several hosts share one index (vectors stay in Chroma).

The same class as the SQLite store, with the database connection swapped: its SQL is written
for both (`?` placeholders become `%s`), and what differs is here: the schema and its versions,
full-text search (a weighted `tsvector` column with a GIN index instead of FTS5), and the
writers' lock (a PostgreSQL advisory lock instead of a file, released when a writer's session
ends, a crash included). A server that is down or restarting raises `IndexUnavailable` naming it;
the next call connects again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar

from index.errors import ConfigError, IndexUnavailable
from index.store import Store, _held_by, _scope_sql, _within
from index.text import content_terms, tokens

log = logging.getLogger(__name__)

PG_SCHEMA_VERSION = 2
# The statements that take the PostgreSQL schema from version N-1 to N, applied at start-up in
# one transaction by the first process to open the database.
PG_MIGRATIONS: dict[int, list[str]] = {
    # 2: each passage's sentence offsets, found at index time (answers read them)
    2: ["ALTER TABLE passages ADD COLUMN sentences TEXT"],
}
PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources(
    name TEXT PRIMARY KEY, location TEXT NOT NULL, kind TEXT NOT NULL,
    added_at DOUBLE PRECISION NOT NULL, last_refresh DOUBLE PRECISION, last_error TEXT,
    scope TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS sources_scope_location ON sources(scope, location);
CREATE TABLE IF NOT EXISTS server_settings(
    server TEXT PRIMARY KEY, settings TEXT NOT NULL DEFAULT '{}', left_at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, url TEXT, canonical_url TEXT,
    publisher TEXT, published DOUBLE PRECISION, author TEXT, category TEXT,
    text_hash TEXT NOT NULL, norm_hash TEXT NOT NULL, indexed_at DOUBLE PRECISION NOT NULL,
    published_raw DOUBLE PRECISION, story TEXT, copy_of TEXT, sketch BYTEA);
CREATE INDEX IF NOT EXISTS articles_norm ON articles(norm_hash);
CREATE INDEX IF NOT EXISTS articles_story ON articles(story);
CREATE INDEX IF NOT EXISTS articles_url ON articles(canonical_url);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS article_bands(
    band TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY(band, article_id));
CREATE INDEX IF NOT EXISTS article_bands_article ON article_bands(article_id);
CREATE TABLE IF NOT EXISTS article_sources(
    source TEXT NOT NULL, article_id TEXT NOT NULL, PRIMARY KEY(source, article_id));
CREATE INDEX IF NOT EXISTS article_sources_article ON article_sources(article_id);
CREATE TABLE IF NOT EXISTS passages(
    rid BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, article_id TEXT NOT NULL,
    position INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL, vector BYTEA NOT NULL, sentences TEXT,
    tsv TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'B') ||
        setweight(to_tsvector('english', text), 'A')) STORED);
CREATE INDEX IF NOT EXISTS passages_article ON passages(article_id);
CREATE INDEX IF NOT EXISTS passages_tsv ON passages USING GIN(tsv);
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);
"""
# Title and text weighed as the SQLite store's bm25(0.5, 1.0): weights for D, C, B (title), A.
_RANK = "ts_rank('{0.1, 0.2, 0.5, 1.0}', p.tsv, q, 1)"  # q: the query
_WRITER_KEY = 0x6E657773  # the advisory lock writers take ("news")
_MIGRATE_KEY = 0x6E657774  # taken while the schema is created or upgraded


def database_label(url: str) -> str:
    """"PostgreSQL at HOST:PORT/DB" from a connection URL, without user or password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:  # a malformed URL: name the kind of server only
        return "PostgreSQL"
    host = str(info.get("host") or "localhost")
    where = host if host.startswith("/") else f"{host}:{info.get('port') or 5432}"
    return f"PostgreSQL at {where}/{info.get('dbname') or ''}".rstrip("/")


class _Row(tuple[Any, ...]):
    """A result row readable by position and by column name, as `sqlite3.Row` is."""

    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            key = self._index[key]
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    desc = cursor.description
    if desc is None:
        return tuple
    return type("Row", (_Row,), {"_index": {c.name: i for i, c in enumerate(desc)}})


class _Connection:
    """One psycopg connection in autocommit mode (each statement sees what other processes
    committed), opened again after the server went away; `?` placeholders become `%s`."""

    def __init__(self, url: str, label: str) -> None:
        self.url = url
        self.label = label
        self._conn: Any = None

    def connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                             row_factory=_row_factory)
            except psycopg.OperationalError as exc:
                raise IndexUnavailable(self.label, _reason(exc)) from exc
        return self._conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self.errors():
            return self.connection().execute(sql.replace("?", "%s"), args)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.errors():
            self.connection().cursor().executemany(sql.replace("?", "%s"), rows)

    @contextmanager
    def errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise IndexUnavailable(self.label, _reason(exc)) from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _reason(exc: BaseException) -> str:
    """The first line of a driver error, without the connection string it may quote."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"postgres(?:ql)?://\S+", "postgresql://…", text)


class PgStore(Store):
    """`Store` on PostgreSQL (`NEWSBOT_DATABASE_URL`); `data_dir` holds only what is local to one
    process (an embedded Chroma, if no Chroma server is set)."""

    counts_terms = False  # no BM25 statistics: candidates are scored again by `ts_rank`
    STATS_TTL = 300.0  # seconds between reads of the planner's lexeme frequencies
    ORDERED_JOIN = "JOIN"  # (PostgreSQL's planner orders joins by itself)

    def __init__(self, url: str, data_dir: Path, chroma_client: Any) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.label = database_label(url)
        self._pg = _Connection(url, self.label)
        self.db = self._pg  # type: ignore[assignment]  # the SQL of `Store` runs on it as is
        self._writer_conn = _Connection(url, self.label)
        self._writers_here = threading.Lock()
        self._common: tuple[float, dict[str, float]] | None = None  # (read at, lexeme: share)
        self._rows = 0  # the planner's estimate of the passages, read with `_common`
        self._init_counts()
        self._migrate()
        self._open_vectors(chroma_client)

    def _row_count(self, table: str) -> int:
        """The planner's estimate once the table was analysed (a COUNT(*) reads every row:
        26 ms for the passages at 100k), else a count."""
        est = self._estimated_rows(table)
        return int(est) if est >= 0 else super()._row_count(table)

    def _estimated_rows(self, table: str) -> float:
        """The planner's row estimate (`pg_class.reltuples`): -1 before the first ANALYZE."""
        return float(self._q("SELECT reltuples FROM pg_class WHERE oid = ?::regclass",
                             (table,))[0][0])

    def _reader(self) -> None:
        """Reads share the one connection, under `_lock`."""
        return None

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATE_KEY,))
            exists = db.execute("SELECT to_regclass('schema_version')").fetchone()[0]
            if exists is None:
                for statement in PG_SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version(version) VALUES (?)",
                           (PG_SCHEMA_VERSION,))
                return
            version = int(db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
            if version > PG_SCHEMA_VERSION:
                raise ConfigError(f"{self.label} was written by a newer newsbot (schema "
                                  f"{version}; this one reads up to {PG_SCHEMA_VERSION})")
            for step in range(version + 1, PG_SCHEMA_VERSION + 1):
                log.warning("upgrading %s from schema %s to %s", self.label, step - 1, step)
                for statement in PG_MIGRATIONS[step]:
                    db.execute(statement)
                db.execute("UPDATE schema_version SET version=?", (step,))

    def close(self) -> None:
        with self._lock:
            self._pg.close()
            self._writer_conn.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._lock, self._pg.errors(), self._pg.connection().transaction():
            yield self._pg
        self._forget_counts()

    @contextmanager
    def writer_lock(self, wait: bool = False) -> Iterator[bool]:
        """PostgreSQL's advisory lock, on a connection of its own: writers on every host take
        turns, and a writer that dies releases it with its session."""
        # an advisory lock is re-entrant within its session: threads of this process take turns
        # on a lock of their own first
        if not self._writers_here.acquire(blocking=wait):
            yield False
            return
        try:
            conn = self._writer_conn
            if wait:
                conn.execute("SELECT pg_advisory_lock(?)", (_WRITER_KEY,))
            elif not conn.execute("SELECT pg_try_advisory_lock(?)",
                                  (_WRITER_KEY,)).fetchone()[0]:
                yield False
                return
            try:
                yield True
            finally:
                with suppress(IndexUnavailable):  # the session is gone, and the lock with it
                    conn.execute("SELECT pg_advisory_unlock(?)", (_WRITER_KEY,))
        finally:
            self._writers_here.release()

    # -- lexical: PostgreSQL full-text search ----------------------------------------------------
    def lexical(self, question: str, k: int, since: float | None = None,
                until: float | None = None, sources: Sequence[str] = (),
                max_terms: int | None = None,
                max_postings: int | None = None) -> list[tuple[str, float]]:
        """(passage id, `ts_rank`, higher is better) for the top k passages, found by the
        question's content words OR-ed (with `max_terms`, the rarest of them: `fts_query`)."""
        q = self.fts_query(question, max_terms, max_postings)
        if q is None:
            return []
        scope, args = _scope_sql("a", since, until, sources)
        join = "JOIN articles a ON a.id = p.article_id " if scope else ""
        where = "".join(f" AND {c}" for c in scope)
        rows = self._q(
            f"SELECT p.id, {_RANK} AS s FROM passages p {join}"
            f"CROSS JOIN to_tsquery('english', ?) q WHERE p.tsv @@ q{where} "
            "ORDER BY s DESC LIMIT ?", [q, *args, k])
        return [(r[0], float(r[1])) for r in rows]

    def fts_query(self, question: str, max_terms: int | None = None,
                  max_postings: int | None = None) -> str | None:
        """The `to_tsquery` string for a question: its content words OR-ed (the SQLite store's
        FTS5 query in PostgreSQL's syntax); with `max_terms`, only that many, the rarest, and
        none the index lacks; with `max_postings`, only the rarest whose estimated passage
        counts add up to at most that. How common each word is comes from the planner's
        statistics (`pg_stats.most_common_elems` of the `tsvector` column, kept by ANALYZE,
        times the table's estimated rows): a word not among them is rarer than every word
        that is, and counted as none. Before the first ANALYZE, every word."""
        terms = list(dict.fromkeys(
            t for t in (re.sub(r"\W", "", w) for w in content_terms(question)) if t))
        capped = max_terms is not None or max_postings is not None
        common = self._common_lexemes() if capped else {}
        if not capped or not common or (max_postings is None and len(terms) <= (max_terms or 0)):
            return " | ".join(terms) or None
        lexeme = {r[0]: r[1].strip("'") for r in self._q(
            "SELECT w, strip(to_tsvector('english', w))::text FROM unnest(?::text[]) AS w",
            [terms]) if r[1]}
        rare = [t for t in terms if t in lexeme and lexeme[t] not in common]
        held = {r[0] for r in self._q(  # a rare word may be in no passage at all
            "SELECT w FROM unnest(?::text[]) AS w WHERE EXISTS (SELECT 1 FROM passages p "
            "WHERE p.tsv @@ to_tsquery('english', w))", [rare])} if rare else set()
        ranked = sorted((t for t in lexeme if t in held or lexeme[t] in common),
                        key=lambda t: common.get(lexeme[t], 0.0))
        counts = [int(common.get(lexeme[t], 0.0) * self._rows) for t in ranked]
        return " | ".join(_within(ranked[:max_terms], counts, max_postings)) or None

    def _common_lexemes(self) -> dict[str, float]:
        """The share of passages holding each of the most common lexemes (read again every
        `STATS_TTL` seconds); empty before PostgreSQL has analysed the table."""
        now = time.monotonic()
        if self._common is None or now - self._common[0] > self.STATS_TTL:
            rows = self._q(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                "WHERE schemaname = current_schema() AND tablename = 'passages' "
                "AND attname = 'tsv'")
            elems, freqs = (rows[0][0], rows[0][1]) if rows else (None, None)
            self._common = (now, dict(zip(elems or [], freqs or [], strict=False)))
            self._rows = max(0, int(self._estimated_rows("passages")))
        return self._common[1]

    def mentions_anywhere(self, name: str, sources: Sequence[str] = ()) -> bool:
        if not tokens(name):
            return True
        where, args = "", list[Any]()
        if sources:
            held, args = _held_by("p.article_id", sources)
            where = f" AND {held}"
        # through the GIN index: for `EXISTS`, the planner expects any word to be in some
        # passages and scans the table for the first, which for a name no passage holds read
        # all of it (128 ms at 100k passages, against a few through the index)
        with self.transaction() as db:
            db.execute("SET LOCAL enable_seqscan = off")
            row = db.execute(
                "SELECT numnode(q) = 0 OR EXISTS (SELECT 1 FROM passages p WHERE p.tsv @@ q"
                f"{where}) FROM plainto_tsquery('english', ?) q", [*args, name]).fetchall()
        return bool(row[0][0])

    def term_stats(self, stems: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        raise NotImplementedError("BM25 statistics are FTS5's: this store scores candidates "
                                  "with ts_rank (counts_terms is False)")

    def lexical_scores(self, question: str, passage_ids: Sequence[str]) -> dict[str, float]:
        q = self.fts_query(question)
        if q is None or not passage_ids:
            return {}
        marks = ",".join("?" * len(passage_ids))
        rows = self._q(
            f"SELECT p.id, {_RANK} FROM passages p "
            f"CROSS JOIN to_tsquery('english', ?) q WHERE p.tsv @@ q AND p.id IN ({marks})",
            [q, *passage_ids])
        return {r[0]: float(r[1]) for r in rows}
