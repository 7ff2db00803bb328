"""Where indexing spends its time: the BBC corpus added in one process, each step timed.

    .venv/bin/python bench/index_phases.py

`Engine.add_source` on the 2,225 BBC articles (a fresh data directory), with the model's calls,
the splitting thread, story assignment and the store's writes each timed by a wrapper. The
splitting runs on its own thread beside the model, so its seconds overlap the model's; the
rest run between the model's calls.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, ROOT, bbc_as_articles_jsonl, timed


def main() -> None:
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return
    sys.path.insert(0, str(ROOT))
    import index.engine as engine_module
    import index.passages as passages
    import index.stories as stories
    from index.engine import Engine
    from index.settings import IndexSettings

    seconds: dict[str, float] = {}


    tmp = Path(tempfile.mkdtemp(prefix="newsbot-phases-"))
    src = bbc_as_articles_jsonl(tmp / "bbc.jsonl")
    t0 = time.perf_counter()
    engine = Engine.from_settings(IndexSettings(data_dir=tmp / "data"))
    engine.embedder.encode(["warm up"])
    print(f"engine and model loaded: {time.perf_counter() - t0:.1f} s")
    timed(seconds, engine.embedder, "encode", "the model's calls")
    timed(seconds, passages, "_split_many", "splitting (its own thread)")
    timed(seconds, stories, "assign", "story assignment")
    timed(seconds, engine_module, "read_source", "reading the file")
    for name in ("commit_articles", "upsert_vectors", "passage_vectors_of"):
        timed(seconds, engine.store, name, f"store.{name}")
    t0 = time.perf_counter()
    report = engine.add_source(str(src), "bbc")
    total = time.perf_counter() - t0
    print(f"add_source: {total:.1f} s, {report.embedded} passages embedded")
    for label, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {label:28} {s:6.1f} s")
    engine.close()


if __name__ == "__main__":
    main()
