"""Run by tests/test_crash.py as a separate process that the test kills with SIGKILL."""

import sys
from pathlib import Path

from index.engine import Engine
from index.settings import IndexSettings

data_dir, location, per_commit = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = Engine.from_settings(IndexSettings(data_dir=Path(data_dir)))
engine.articles_per_commit = per_commit


def progress(done: int, total: int, what: str) -> None:
    print(f"progress {done}/{total}", flush=True)


report = engine.add_source(location, "corpus", progress=progress)
print(f"done embedded={report.embedded} articles={report.articles}", flush=True)
