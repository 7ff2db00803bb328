"""Fragments among the sentences newsbot quotes and summarises, over the BBC corpus.

    .venv/bin/python bench/fragments.py

A fragment is a sentence span that starts with punctuation or a lower-case word, or ends
without sentence punctuation (. ! ? or a closing quote or bracket after one). The corpus's
bodies are split as newsbot splits them, and the same with pysbd's pieces left as they are
(before fragments were joined), in one run.
"""

from __future__ import annotations

import re

from _common import need, read_jsonl

from index import passages

END = re.compile(r"[.!?][\"'”’)\]]*$|[.!?]$")


def fragment(s: str) -> bool:
    return bool(re.match(r"[,;:)\]}]|[a-z]", s)) or not END.search(s)


def share(texts: list[str]) -> tuple[float, int]:
    n = bad = 0
    for t in texts:
        for s, e in passages.sentence_spans(t):
            n += 1
            bad += fragment(t[s:e])
    return bad / n, n


def main() -> None:
    texts = [r["body"] for r in read_jsonl(need("bbc_news_summary.jsonl"))]
    after, n = share(texts)
    real = passages._joins_previous
    passages._joins_previous = lambda piece: False  # pysbd's pieces as they come
    try:
        before, _ = share(texts)
    finally:
        passages._joins_previous = real
    print(f"BBC, {len(texts)} articles, {n} sentences: fragments {before:.2%} with pysbd's "
          f"pieces as they come, {after:.2%} with pieces joined")


if __name__ == "__main__":
    main()
