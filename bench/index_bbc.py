"""Indexing throughput on the 2,225 BBC articles, next to the model's raw encode throughput.

    .venv/bin/python bench/index_bbc.py

Encodes the passage texts of the corpus with the bare model in this process, runs `newsbot index
add` as a user would (a fresh NEWSBOT_DATA_DIR), encodes the same texts again, then adds the file
a second time. The model's time is the mean of the encodes before and after, so that the
machine drifting faster or slower over the minutes the run takes does not favour either side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, bbc_as_articles_jsonl

NEWSBOT = str(Path(sys.executable).parent / "newsbot")


def passage_texts(src: Path) -> list[str]:
    """The texts the pipeline embeds for the file's passages (headline and passage)."""
    sys.path.insert(0, str(ROOT))
    from index.engine import embed_text
    from index.passages import split_passages
    from index.sources import Fetcher, read_source

    articles = read_source(str(src), "bbc", Fetcher()).articles
    return [embed_text(a.title, p.text) for a in articles
            for p in split_passages(a.id or "", a.text, salt=a.title)]


def bare_encode_seconds(texts: list[str]) -> float:
    """The seconds the bare model takes to encode the texts."""
    from index.embed import make_embedder
    from index.settings import IndexSettings

    emb = make_embedder(IndexSettings().embedder)  # the embedder the CLI run uses
    emb.encode(texts[:32])  # load and warm up, as the CLI's time includes its own load
    t0 = time.perf_counter()
    emb.encode(texts)
    return time.perf_counter() - t0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="newsbot-bbc-"))
    src = bbc_as_articles_jsonl(tmp / "bbc.jsonl")
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(tmp / "data")}
    texts = passage_texts(src)
    raw_before = bare_encode_seconds(texts)
    t0 = time.perf_counter()
    first = subprocess.run([NEWSBOT, "index", "add", str(src), "--name", "bbc", "--json"],
                           env=env, capture_output=True, text=True, check=True)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    second = subprocess.run([NEWSBOT, "index", "add", str(src), "--json"],
                            env=env, capture_output=True, text=True, check=True)
    t_second = time.perf_counter() - t0
    r1, r2 = json.loads(first.stdout), json.loads(second.stdout)

    raw_after = bare_encode_seconds(texts)
    t_raw = (raw_before + raw_after) / 2

    n = r1["embedded"]
    pipeline_rate = n / t_first
    raw_rate = len(texts) / t_raw
    print(f"articles indexed:             {r1['articles']}")
    print(f"passages embedded:            {n} (second add: {r2['embedded']})")
    print(f"first add (whole CLI run):    {t_first:.1f} s  -> {pipeline_rate:.1f} passages/s")
    print(f"raw model.encode, same texts: {t_raw:.1f} s  -> {raw_rate:.1f} passages/s "
          f"(before {raw_before:.1f} s, after {raw_after:.1f} s)")
    print(f"pipeline overhead over model: {100 * (raw_rate / pipeline_rate - 1):.1f}%")
    print(f"second add (nothing to do):   {t_second:.1f} s  = {100 * t_second / t_first:.1f}% of first")


if __name__ == "__main__":
    main()
