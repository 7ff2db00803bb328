"""newsbot's sentence splitter against pysbd's own: the same spans, and the time each takes.

    .venv/bin/python bench/splitter.py

Every distinct paragraph of the BBC corpus and of RealTime QA's evidence (tags stripped, white
space folded) is split by pysbd 0.3.4 as shipped and by `index.passages`'s segmenter (pysbd with
the abbreviation searches that cannot change a line skipped, and its sentences located without
a pattern each); prints how many paragraphs differ and the seconds each took.
"""

from __future__ import annotations

import re
import sys
import time

from _common import DATA, ROOT, read_jsonl


def paragraphs() -> list[str]:
    from index.passages import _paragraphs

    out = []
    for r in read_jsonl(DATA / "bbc_news_summary.jsonl"):
        out += [r["body"][s:e] for s, e in _paragraphs(r["body"])]
    for r in read_jsonl(DATA / "realtimeqa.jsonl"):
        if isinstance(r.get("evidence"), str):
            out.append(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r["evidence"])).strip())
    return list(dict.fromkeys(p for p in out if p))


def main() -> None:
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return
    sys.path.insert(0, str(ROOT))
    import pysbd

    from index.passages import _segmenter

    paras = paragraphs()
    stock = pysbd.Segmenter(language="en", clean=False, char_span=True)
    ours = _segmenter()
    seconds = {"pysbd": 0.0, "newsbot": 0.0}
    differ = 0
    for p in paras:
        t0 = time.perf_counter()
        a = [(s.start, s.end, s.sent) for s in stock.segment(p)]
        t1 = time.perf_counter()
        b = [(s.start, s.end, s.sent) for s in ours.segment(p)]
        seconds["pysbd"] += t1 - t0
        seconds["newsbot"] += time.perf_counter() - t1
        differ += a != b
    print(f"{len(paras)} paragraphs: {differ} split differently; pysbd {seconds['pysbd']:.1f} s, "
          f"newsbot's segmenter {seconds['newsbot']:.1f} s")


if __name__ == "__main__":
    main()
