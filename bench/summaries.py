"""Summary quality for `latest`: newsbot's 1-3 sentence extractive summaries against the BBC
reference summaries (sentences picked from each article by people), next to a lead-3 baseline.

    .venv/bin/python bench/summaries.py
"""

from __future__ import annotations

import statistics
import time

from _common import need, read_jsonl
from rouge_score import rouge_scorer

from index.passages import sentence_spans
from index.summary import summarise


def lead(text: str, n: int = 3) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)[:n]]


def main() -> None:
    rows = read_jsonl(need("bbc_news_summary.jsonl"))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    results: dict[str, dict[str, list[float]]] = {}
    t0 = time.perf_counter()
    for r in rows:
        ref = r["summary"]
        for name, sents in (("newsbot", summarise(r["body"])), ("lead-3", lead(r["body"]))):
            m = results.setdefault(name, {k: [] for k in
                                          ("in_ref", "r1", "r2", "rl", "p1", "words")})
            m["in_ref"].append(sum(s in ref for s in sents) / max(len(sents), 1))
            sc = scorer.score(ref, " ".join(sents))
            m["r1"].append(sc["rouge1"].fmeasure)
            m["r2"].append(sc["rouge2"].fmeasure)
            m["rl"].append(sc["rougeL"].fmeasure)
            m["p1"].append(sc["rouge1"].precision)
            m["words"].append(len(" ".join(sents).split()))
    secs = time.perf_counter() - t0
    print(f"{len(rows)} BBC articles ({secs:.0f}s)")
    print("summary   sentences in reference  ROUGE-1 P  ROUGE-1 F  ROUGE-2 F  ROUGE-L F  words")
    for name, m in results.items():
        print(f"{name:9} {statistics.mean(m['in_ref']):22.3f} {statistics.mean(m['p1']):10.3f} "
              f"{statistics.mean(m['r1']):10.3f} {statistics.mean(m['r2']):10.3f} "
              f"{statistics.mean(m['rl']):10.3f} {statistics.mean(m['words']):6.1f}")


if __name__ == "__main__":
    main()
