"""Answers to the team's own questions over BBC News articles, asked end to end.

    .venv/bin/python bench/news_questions.py [--data-dir DIR] [--split report|tune] [--calibrate]

The questions (`train/news_questions/`, written by the team, many worded unlike the sentence
that answers, and a sixth of them on an article's subject but not answered by it) are asked of
an index of all 2,225 BBC articles (about 10k passages, undated). Splits are by article:
`train` questions train the ranker (train/ranker.py), `tune` ones may choose constants
(`--calibrate`), `report` ones are reported.

- first quote: the first quote holds the answer span and is text of the article asked about;
- some quote: any quote does;
- wrongly abstained: an answerable question declined;
- unanswerable declined: a question the article does not answer, declined;
- ranker within the article: among the article's own sentences (headline and sentence before as
  context), the answering one scores highest; beside it the MiniLM cosine.

`--calibrate` (tune split only) sweeps `min_answer_score` and `min_name_coverage` end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
from _common import DATA, apply_constants, bbc_as_articles_jsonl, constant_flags, fresh_engine, need

from index.ranker import sentence_contexts
from train import news_questions as nq


def build(engine) -> None:
    arts = nq.articles()
    if engine.store.stats().articles >= len(arts):
        return
    t0 = time.perf_counter()
    src = bbc_as_articles_jsonl(Path(engine.store.data_dir) / "bbc.jsonl")
    engine.add_source(str(src), "bbc")
    print(f"indexed {len(arts)} BBC articles in {time.perf_counter() - t0:.0f}s", flush=True)


def ask_all(engine, qs: list[nq.NewsQuestion]) -> dict[str, float]:
    arts = nq.articles()
    answerable = [q for q in qs if q.answer is not None]
    unanswerable = [q for q in qs if q.answer is None]
    first = some = wrongly = quotes = 0
    for q in answerable:
        a = engine.ask(q.question)
        body = arts[q.article]["body"]
        if a.abstained:
            wrongly += 1
            continue
        quotes += len(a.quotes)
        held = [q.answer in x.text and x.text in body for x in a.quotes]
        first += held[0]
        some += any(held)
    declined = sum(engine.ask(q.question).abstained for q in unanswerable)
    n = max(len(answerable), 1)
    return {"first": first / n, "some": some / n, "wrongly": wrongly / n,
            "quotes": quotes / max(n - wrongly, 1), "answerable": len(answerable),
            "declined": declined / max(len(unanswerable), 1), "unanswerable": len(unanswerable)}


def within_article(scorer, qs: list[nq.NewsQuestion]) -> float:
    """Share of answerable questions whose answering sentence scores highest of its article's."""
    hit = total = 0
    for q in qs:
        i = nq.answering_sentence(q)
        if i is None:
            continue
        art = nq.articles()[q.article]
        sents = nq.body_sentences(art["body"])
        scores = scorer(q.question, sents, sentence_contexts(sents, art["title"]))
        hit += int(np.argmax(scores)) == i
        total += 1
    return hit / max(total, 1)


def report(engine, qs, label: str, ranker_only: bool) -> None:
    r = ask_all(engine, qs)
    print(f"{label}: {r['answerable']} answerable: first quote holds the answer {r['first']:.3f}, "
          f"some quote {r['some']:.3f}, wrongly abstained {r['wrongly']:.3f}, quotes per answer "
          f"{r['quotes']:.2f}; {r['unanswerable']} unanswerable: declined {r['declined']:.3f}",
          flush=True)
    scorers = {"ranker": engine.ranker.score} if engine.ranker is not None else {}
    if not ranker_only:
        def cosine(question, sents, ctx):
            v = engine.embedder.encode([question, *sents])
            return v[1:] @ v[0]
        scorers["MiniLM cosine"] = cosine
    for name, s in scorers.items():
        print(f"  within the article, the answering sentence first: {name} "
              f"{within_article(s, qs):.3f}")


def calibrate(engine, qs) -> None:
    base = engine.config
    print("min_answer_score  min_name_coverage  first  wrongly abstained  unanswerable declined")
    for cov in (0.0, 0.5):
        for t in (0.3, 0.4, 0.5, 0.6, 0.7):
            engine.config = dataclasses.replace(base, min_answer_score=t, min_name_coverage=cov)
            r = ask_all(engine, qs)
            print(f"  {t:<16} {cov:<18} {r['first']:.3f}  {r['wrongly']:.3f}"
                  f"              {r['declined']:.3f}", flush=True)
    engine.config = base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="keep the BBC index here between runs")
    ap.add_argument("--split", choices=("tune", "report"), default="report")
    ap.add_argument("--calibrate", action="store_true", help="sweep the constants (tune split)")
    ap.add_argument("--ranker-only", action="store_true", help="skip the cosine baseline")
    constant_flags(ap)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return
    need("bbc_news_summary.jsonl")
    engine = fresh_engine(args.data_dir)
    apply_constants(engine, args)
    build(engine)
    split = "tune" if args.calibrate else args.split
    qs = nq.load(split)
    if not qs:
        sys.exit(f"no questions of the {split} split in {nq.HERE}")
    print(f"answer ranker: {getattr(engine.ranker, 'name', 'off')}; {split} split")
    if args.calibrate:
        calibrate(engine, qs)
        return
    report(engine, qs, f"BBC, team's questions, {split} split", args.ranker_only)


if __name__ == "__main__":
    main()
