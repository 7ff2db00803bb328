"""Indexing throughput on the 2,225 BBC articles, next to the model's raw encode throughput.

    .venv/bin/python bench/index_bbc.py

Runs `newsbot index add` as a user would (a fresh NEWSBOT_DATA_DIR), then encodes the very same
passage texts with the bare model in this process, then adds the file a second time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, bbc_as_articles_jsonl

NEWSBOT = str(Path(sys.executable).parent / "newsbot")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="newsbot-bbc-"))
    src = bbc_as_articles_jsonl(tmp / "bbc.jsonl")
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(tmp / "data")}
    t0 = time.perf_counter()
    first = subprocess.run([NEWSBOT, "index", "add", str(src), "--name", "bbc", "--json"],
                           env=env, capture_output=True, text=True, check=True)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = subprocess.run([NEWSBOT, "index", "add", str(src), "--json"],
                            env=env, capture_output=True, text=True, check=True)
    t_second = time.perf_counter() - t0
    import json

    r1, r2 = json.loads(first.stdout), json.loads(second.stdout)

    # The same passages through the bare model, in this process.
    sys.path.insert(0, str(ROOT))
    from index.embed import make_embedder
    from index.engine import embed_text
    from index.passages import split_passages
    from index.settings import IndexSettings
    from index.sources import Fetcher, read_source

    articles = read_source(str(src), "bbc", Fetcher()).articles
    texts = [embed_text(a.title, p.text) for a in articles
             for p in split_passages(a.id or "", a.text, salt=a.title)]
    emb = make_embedder(IndexSettings().embedder)  # the embedder the CLI run used
    emb.encode(texts[:32])  # load and warm up, as the CLI's time includes its own load
    t0 = time.perf_counter()
    emb.encode(texts)
    t_raw = time.perf_counter() - t0

    n = r1["embedded"]
    pipeline_rate = n / t_first
    raw_rate = len(texts) / t_raw
    print(f"articles indexed:             {r1['articles']}")
    print(f"passages embedded:            {n} (second add: {r2['embedded']})")
    print(f"first add (whole CLI run):    {t_first:.1f} s  -> {pipeline_rate:.1f} passages/s")
    print(f"raw model.encode, same texts: {t_raw:.1f} s  -> {raw_rate:.1f} passages/s")
    print(f"pipeline overhead over model: {100 * (raw_rate / pipeline_rate - 1):.1f}%")
    print(f"second add (nothing to do):   {t_second:.1f} s  = {100 * t_second / t_first:.1f}% of first")


if __name__ == "__main__":
    main()
