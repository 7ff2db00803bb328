"""Run by tests/test_crash.py as a separate process that the test kills with SIGKILL."""

import sys
import time
from pathlib import Path

from index.engine import Engine
from index.settings import IndexSettings
from tests.fakes import FakeEmbedder


class SlowEmbedder(FakeEmbedder):
    """The test embedder at a model's pace, so that a kill lands mid-refresh (what a crash
    breaks is the order of the SQLite and Chroma writes, not the vectors)."""

    def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return super().encode(texts)


data_dir, location, per_commit = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = Engine.from_settings(IndexSettings(data_dir=Path(data_dir)), embedder=SlowEmbedder(),
                              ranker=None)
engine.articles_per_commit = per_commit


def progress(done: int, total: int, what: str) -> None:
    print(f"progress {done}/{total}", flush=True)


report = engine.add_source(location, "corpus", progress=progress)
print(f"done embedded={report.embedded} articles={report.articles}", flush=True)
