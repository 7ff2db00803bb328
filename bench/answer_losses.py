"""Where the first quote goes wrong: for each RealTime QA question whose first quote does not
hold the answer, the step that lost it.

    .venv/bin/python bench/answer_losses.py [--data-dir DIR] [--split tune|report]

The index is bench/answers.py's (every evidence paragraph, dated by its quiz; `--data-dir`
keeps it). Each question is asked as bench/answers.py asks it, on its quiz date, and the
answer layer's candidates and short list are recorded on the way:

- abstained: no quote at all (by the abstention's reason; for "no_answer", whether a
  candidate held the answer all the same);
- not a candidate: no sentence of the passages found holds the answer (retrieval);
- not short-listed: a candidate holds it, but none of the sentences the ranker read;
- ranked lower: the ranker read a sentence holding it, and put another first;
- first quote holds it: right.

The tuning split (quizzes of 2023) is the default: this is for deciding what to work on next.
It also prints how often the questions the index does not answer (MultiHop-RAG null queries,
the off-topic list: bench/answers.py reports them) are declined, the other side of abstaining.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter

from _common import DATA, fresh_engine, need, read_jsonl
from answers import abstained_share, rtqa_split
from realtimeqa import OFF_TOPIC, build, load, verbatim_items

import index.answer as answer_layer

OUTCOMES = ("first quote holds it", "ranked lower", "not short-listed", "not a candidate",
            "abstained")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", help="keep the RealTime QA index here between runs")
    ap.add_argument("--split", choices=("tune", "report"), default="tune")
    ap.add_argument("--min-name-coverage", type=float,
                    help="instead of the configured one (ScoringConfig.min_name_coverage)")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return
    engine = fresh_engine(args.data_dir)
    if args.min_name_coverage is not None:
        engine.config = dataclasses.replace(engine.config,
                                            min_name_coverage=args.min_name_coverage)
    articles, questions = load()
    if engine.store.stats().articles != len(articles):
        print(f"indexed {len(articles)} RealTime QA paragraphs in {build(engine, articles):.0f}s")
    seen: dict[str, list] = {"candidates": [], "short": []}
    candidates, shortlist = answer_layer.candidates, answer_layer.shortlist

    def recorded_candidates(hits):
        out = candidates(hits)
        seen["candidates"].extend(c.text for c in out)
        return out

    def recorded_shortlist(cands, *a, **k):
        out = shortlist(cands, *a, **k)
        seen["short"].extend(c.text for c in out)
        return out

    answer_layer.candidates = recorded_candidates
    answer_layer.shortlist = recorded_shortlist
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    items = verbatim_items(questions, lambda r: rtqa_split(r) == args.split)
    for q, golds, when in items:
        seen["candidates"].clear()
        seen["short"].clear()
        a = engine.ask(q, now=when)

        def holds(texts: list[str], golds: list[str] = golds) -> bool:
            return any(g in t for t in texts for g in golds)

        if a.abstained or not a.quotes:
            outcomes["abstained"] += 1
            why = a.abstention.reason if a.abstention else "?"
            reasons[why] += 1
            if why == "no_answer":
                # the ranker's best score fell under the bar: was the answer there?
                reasons["no_answer, a candidate held it"] += holds(seen["candidates"])
        elif holds([a.quotes[0].text]):
            outcomes["first quote holds it"] += 1
        elif not holds(seen["candidates"]):
            outcomes["not a candidate"] += 1
        elif not holds(seen["short"] or seen["candidates"]):
            outcomes["not short-listed"] += 1
        else:
            outcomes["ranked lower"] += 1
    n = len(items)
    print(f"RealTime QA {args.split} split, {n} questions, as asked "
          f"(min_name_coverage {engine.config.min_name_coverage}):")
    for k in OUTCOMES:
        print(f"  {k:22} {outcomes[k]:4}  {outcomes[k] / n:.3f}")
    print("abstained, by reason:")
    for k, v in sorted(reasons.items()):
        print(f"  {k:32} {v:4}  {v / n:.3f}")
    # the other side of abstaining: questions the index does not answer (reported only)
    nulls = [r["query"] for r in read_jsonl(need("multihoprag_sample500.jsonl"))
             if r["question_type"] == "null_query"]
    print(f"abstained: MultiHop-RAG null queries {abstained_share(engine, nulls):.3f} "
          f"({len(nulls)}), off-topic {abstained_share(engine, OFF_TOPIC):.3f} "
          f"({len(OFF_TOPIC)})")


if __name__ == "__main__":
    main()
