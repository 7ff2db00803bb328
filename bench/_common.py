"""Shared helpers for the benchmarks: locating ../shared/data and building an engine."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("NEWSBOT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def need(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        print(f"skipped: {path} is absent (the public corpora live in ../shared/data)")
        sys.exit(0)
    return path


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def bbc_as_articles_jsonl(dest: Path) -> Path:
    """The BBC corpus converted to newsbot's article JSONL format."""
    src = need("bbc_news_summary.jsonl")
    with open(dest, "w", encoding="utf-8") as out:
        for o in read_jsonl(src):
            out.write(json.dumps({"id": o["id"], "title": o["title"], "text": o["body"],
                                  "category": o["category"], "source": "BBC News"}) + "\n")
    return dest


def constant_flags(ap) -> None:
    """`--retrieval-weight`, `--min-answer-score`, `--names-missing-score`: other constants
    than the configured ones (another ranker's calibrated values)."""
    ap.add_argument("--retrieval-weight", type=float,
                    help="instead of the configured one (another ranker's calibrated value)")
    ap.add_argument("--min-answer-score", type=float, help="likewise")
    ap.add_argument("--names-missing-score", type=float, help="likewise")


def apply_constants(engine, args) -> None:
    """The constants given by `constant_flags`, in place of the configured ones."""
    import dataclasses

    chosen = {k: v for k, v in (("retrieval_weight", args.retrieval_weight),
                                ("min_answer_score", args.min_answer_score),
                                ("names_missing_score", args.names_missing_score))
              if v is not None}
    if chosen:
        engine.config = dataclasses.replace(engine.config, **chosen)


def fresh_engine(data_dir: str | None = None, **settings):
    from index.engine import Engine
    from index.settings import IndexSettings

    d = data_dir or tempfile.mkdtemp(prefix="newsbot-bench-")
    return Engine.from_settings(IndexSettings(data_dir=Path(d), **settings))


def p50_p95(fn, items) -> tuple[float, float]:
    """Median and 95th percentile, in ms, of fn(item) over the items."""
    import statistics
    import time

    times = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def timed(seconds: dict[str, float], owner, name: str, label: str) -> None:
    """Replace `owner.name` with a wrapper that adds each call's seconds to `seconds[label]`."""
    import functools
    import time

    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - t0

    setattr(owner, name, wrapper)
