"""The bundled MiniLM as int8 ONNX against the fp32 sentence-transformers model, in one run:
how closely their vectors agree and how fast each encodes, on the BBC corpus's passages.

    .venv/bin/python bench/embedder.py [--passages 2000]

Retrieval with each: `bench/realtimeqa.py --embedder int8|fp32`.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import ROOT, need, read_jsonl

sys.path.insert(0, str(ROOT))

from index.embed import OnnxEmbedder, SentenceTransformerEmbedder
from index.engine import embed_text
from index.passages import split_passages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=2000)
    args = ap.parse_args()
    texts: list[str] = []
    for o in read_jsonl(need("bbc_news_summary.jsonl")):
        texts += [embed_text(o["title"], p.text)
                  for p in split_passages(o["id"], o["body"], salt=o["title"])]
        if len(texts) >= args.passages:
            break
    texts = texts[: args.passages]
    results = {}
    for name, emb in (("int8 (ONNX Runtime)", OnnxEmbedder()),
                      ("fp32 (sentence-transformers)", SentenceTransformerEmbedder())):
        t0 = time.perf_counter()
        emb.encode(texts[:8])
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        vecs = emb.encode(texts)
        secs = time.perf_counter() - t0
        q0 = time.perf_counter()
        for t in texts[:200]:
            emb.encode([t[:120]])
        query_ms = (time.perf_counter() - q0) / 200 * 1000
        results[name] = vecs
        print(f"{name:30} load {load:4.1f} s   {len(texts) / secs:6.1f} passages/s   "
              f"one query {query_ms:4.1f} ms")
    a, b = results.values()
    cos = (a * b).sum(axis=1)
    print(f"cosine int8 vs fp32 over {len(texts)} passages: mean {cos.mean():.4f}, "
          f"min {cos.min():.4f}, 1st percentile {np.percentile(cos, 1):.4f}")


if __name__ == "__main__":
    main()
