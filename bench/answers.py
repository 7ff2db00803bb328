"""Answer quality: the trained answer ranker beside the MiniLM cosine it replaced, on data that
was never used to train it or to tune its constants.

    .venv/bin/python bench/answers.py [--data-dir DIR] [--quick]
    .venv/bin/python bench/answers.py --calibrate     # choose the constants on the tuning splits
    .venv/bin/python bench/answers.py --calibrate-names    # then the bar when names are missing
    .venv/bin/python bench/answers.py --calibrate-quotes   # then when a second quote is shown

Splits (train/ranker.py trains on SQuAD v1.1 train, WikiQA and TrecQA train, and RealTime QA
quizzes dated before 2023):
- RealTime QA: quizzes dated 2023 tune `min_answer_score` and `retrieval_weight`; quizzes from
  2024 on are reported. Each question is asked on its quiz date against an index of every
  evidence paragraph (dated by its quiz), as in bench/realtimeqa.py.
- SQuAD 2.0 dev is split by article title: the "calibration" half joins the tuning, the other
  half is reported.
- MultiHop-RAG's null queries are split in two by a hash: one half tunes the bar a question
  missing names must reach (`--calibrate-names`), the other is reported beside all of them.
- SQuAD v1.1 dev, WikiQA test, TrecQA test and the off-topic list are reported only.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
import sys
import time

import numpy as np
from _common import DATA, apply_constants, constant_flags, fresh_engine, need, read_jsonl
from realtimeqa import OFF_TOPIC, build, load, verbatim_items

from index.answer import article_scores, candidates, score_candidates, shortlist
from index.models import Filters
from index.passages import sentence_spans
from index.ranker import sentence_contexts
from index.search import search
from index.timewin import time_window


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def rtqa_split(r: dict) -> str:
    y = r["question_date"][:4]
    return "train" if y < "2023" else "tune" if y == "2023" else "report"


def squad2_half(title: str) -> str:
    return "calibration" if int(hashlib.sha1(title.encode()).hexdigest(), 16) % 2 == 0 else "report"


# -- sentence selection within one paragraph -------------------------------------------------------
def cosine_scorer(embedder):
    def score(question: str, sents: list[str], ctx: list[str] | None = None) -> np.ndarray:
        vecs = embedder.encode([question, *sents])
        return vecs[1:] @ vecs[0]
    return score


def squad_v1_dev(scorers: dict, n: int) -> dict[str, float]:
    rows = read_jsonl(need("squad_v1_dev.jsonl"))
    random.Random(3).shuffle(rows)
    items = []
    for p in rows:
        sents = sentences(p["context"])
        if len(sents) >= 2:
            ctx = sentence_contexts(sents, p["title"].replace("_", " "))
            items += [(qa["question"], qa["answers"], sents, ctx) for qa in p["qas"]]
    items = items[:n]
    out = {}
    for name, score in scorers.items():
        hit = 0
        for q, answers, sents, ctx in items:
            best = sents[int(np.argmax(score(q, sents, ctx)))]
            hit += any(a in best for a in answers)
        out[name] = hit / len(items)
    out["n"] = len(items)
    return out


def squad_v2_scores(ranker, half: str, n: int) -> list[tuple[float, bool]]:
    """(best sentence score, answerable) per question of one half of SQuAD 2.0 dev."""
    rows = [p for p in read_jsonl(need("squad_v2_dev.jsonl")) if squad2_half(p["title"]) == half]
    random.Random(5).shuffle(rows)
    out = []
    for p in rows:
        sents = sentences(p["context"])
        if not sents:
            continue
        ctx = sentence_contexts(sents, p["title"].replace("_", " "))
        for qa in p["qas"]:
            out.append((float(np.max(ranker.score(qa["question"], sents, ctx))),
                        bool(qa["answers"])))
        if len(out) >= n:
            break
    return out


def map_mrr(scorer, name: str) -> tuple[float, float, int]:
    """MAP and MRR over questions with at least one answering and one other sentence (the
    usual "clean" setting for WikiQA and TrecQA)."""
    from train.ranker import detok

    aps, rrs = [], []
    for r in read_jsonl(need(name)):
        labels = [c["label"] for c in r["candidates"]]
        if not (any(labels) and not all(labels)):
            continue
        sents = [detok(c["sentence"]) for c in r["candidates"]]
        # WikiQA's candidates are a summary in order (the sentence before is context)
        ctx = sentence_contexts(sents) if name.startswith("wikiqa") else [""] * len(sents)
        scores = scorer(detok(r["question"]), sents, ctx)
        order = np.argsort(-np.asarray(scores))
        ranked = [labels[i] for i in order]
        hits, precisions = 0, []
        for i, lab in enumerate(ranked, 1):
            if lab:
                hits += 1
                precisions.append(hits / i)
        aps.append(float(np.mean(precisions)))
        rrs.append(1.0 / (ranked.index(1) + 1))
    return float(np.mean(aps)), float(np.mean(rrs)), len(aps)


# -- end to end on RealTime QA -------------------------------------------------------------------
def ask_all(engine, items) -> dict[str, float]:
    first = some = abstained = quotes = exact = 0
    lat = []
    for q, golds, when in items:
        t0 = time.perf_counter()
        a = engine.ask(q, now=when)
        lat.append(time.perf_counter() - t0)
        abstained += a.abstained
        quotes += len(a.quotes)
        stored = engine.store.get_articles(x.article_id for x in a.quotes)
        exact += sum(stored[x.article_id].text[x.start : x.end] == x.text for x in a.quotes)
        if a.quotes:
            first += any(g in a.quotes[0].text for g in golds)
            some += any(g in x.text for x in a.quotes for g in golds)
    n = len(items)
    return {"first": first / n, "some": some / n, "abstained": abstained / n,
            "quotes_per_answer": quotes / max(n - abstained, 1), "n": n,
            "verbatim": exact / max(quotes, 1),
            "p50_ms": 1000 * float(np.median(lat))}


def abstained_share(engine, questions: list[str]) -> float:
    return sum(engine.ask(q).abstained for q in questions) / len(questions)


def calibrate(engine, questions) -> None:
    """Choose retrieval_weight and min_answer_score on the tuning splits only."""
    items = verbatim_items(questions, lambda r: rtqa_split(r) == "tune")
    print(f"tuning on {len(items)} RealTime QA items dated 2023")
    qvs = engine.embedder.encode([q for q, _, _ in items])
    runs = []
    every = dataclasses.replace(engine.config, ranker_shortlist=None)  # the ranker reads all
    for (q, golds, when), qv in zip(items, qvs, strict=True):
        hits = search(engine.store, engine.embedder, q, k=engine.config.passages_read,
                      config=engine.config, now=when, window=time_window(q, when),
                      filters=Filters(), query_vector=qv)
        cands = candidates(hits)
        if cands:
            score_candidates(cands, q, qv, engine.ranker, engine.embedder, hits, every)
        runs.append((q, golds, hits, cands))
    shortlist_table(engine.config, runs)
    print("retrieval_weight  first quote holds the answer")
    best_w, best = 0.0, -1.0
    for w in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0):
        hit = 0
        for _, golds, hits, cands in runs:
            if not cands:
                continue
            art = article_scores(hits)
            top = max(cands, key=lambda c: c.ranker + w * art[c.hit.article.id])
            hit += any(g in top.text for g in golds)
        share = hit / len(runs)
        print(f"  {w:<15} {share:.3f}")
        if share > best:
            best_w, best = w, share
    answerable = np.array([max((c.ranker for c in cands), default=0.0) for _, _, _, cands in runs])
    cal = squad_v2_scores(engine.ranker, "calibration", 6000)
    un = np.array([s for s, ok in cal if not ok])
    ok = np.array([s for s, ok in cal if ok])
    print("threshold  SQuAD2-cal unanswerable abstained  SQuAD2-cal answerable abstained  "
          "RTQA-2023 wrongly abstained")
    best_t, best_j = 0.0, -1.0
    for t in np.arange(0.05, 0.95, 0.05):
        u, a, r = (un < t).mean(), (ok < t).mean(), (answerable < t).mean()
        print(f"  {t:.2f}     {u:.3f}                              {a:.3f}"
              f"                            {r:.3f}")
        j = u - a
        if r <= 0.08 and a <= 0.15 and j > best_j:
            best_t, best_j = float(t), j
    print(f"\nchosen: retrieval_weight={best_w}, min_answer_score={best_t:.2f} "
          "(the largest unanswerable-minus-answerable abstention on the SQuAD 2.0 calibration "
          "half with at most 0.15 of its answerable and 0.08 of RealTime QA 2023 abstained)")


def null_half(query: str) -> str:
    """MultiHop-RAG's null queries split in two by a hash: one half tunes, the other reports."""
    return "tune" if int(hashlib.sha1(query.encode()).hexdigest(), 16) % 2 == 0 else "report"


def null_queries(half: str | None = None) -> list[str]:
    return [r["query"] for r in read_jsonl(need("multihoprag_sample500.jsonl"))
            if r["question_type"] == "null_query" and half in (None, null_half(r["query"]))]


# the names check's constants: each alone, then the others beside the common-name share
# (a share under 0.005 is the same as 0.005 on the RealTime QA index: under 25 passages, the
# floor `common_name_min_passages`)
NAMES_SETTINGS = [{}] + [{"names_missing_score": v} for v in (0.95, 0.9, 0.8, 0.7)] + [
    {"common_name_share": v} for v in (0.005, 0.01, 0.02, 0.05)] + [
    {"common_name_share": 0.005, **other} for other in (
        {"names_missing_score": 0.95}, {"names_missing_score": 0.9},
        {"min_name_coverage": 0.34}, {"min_name_coverage": 0.67})]


def calibrate_names(engine, questions) -> None:
    """Choose the names check's constants: `names_missing_score`, what the ranker's best must
    reach to answer a question fewer than `min_name_coverage` of whose names are in what was
    found, and `common_name_share`, above which a name does not count in that check. Tuned on
    RealTime QA 2023 (answerable) and the tuning half of MultiHop-RAG's null queries (not
    answerable from this index): the setting with the most first quotes holding the answer
    plus null queries declined, each as a share of its set; a later (more changed) setting
    must beat the best so far by more than one null query (1/33), which would otherwise
    outweigh 14 quiz questions. Then the chosen one beside the check as it was on the report
    splits and the off-topic list."""
    shipped = engine.config
    base = dataclasses.replace(shipped, names_missing_score=None, common_name_share=None,
                               min_name_coverage=0.5)

    def table(items, nulls, settings) -> dict:
        print("  setting                           first quote  wrongly abstained  "
              "unanswerable abstained")
        best, best_j = {}, -1.0
        for setting in settings:
            engine.config = dataclasses.replace(base, **setting)
            a = ask_all(engine, items)
            first, wrong, declined = a["first"], a["abstained"], abstained_share(engine, nulls)
            label = ", ".join(f"{k}={v}" for k, v in setting.items()) or "as before (None)"
            print(f"  {label:33} {first:.3f}        {wrong:.3f}              {declined:.3f}",
                  flush=True)
            if first + declined > best_j + (1 / len(nulls) if setting else 0.0):
                best, best_j = setting, first + declined
        return best

    tune = verbatim_items(questions, lambda r: rtqa_split(r) == "tune")
    print(f"tune: RealTime QA 2023 ({len(tune)}), MultiHop-RAG null queries (tuning half)")
    chosen = table(tune, null_queries("tune"), NAMES_SETTINGS)
    print(f"  chosen: {chosen or 'as before'}\n")
    print("report: RealTime QA 2024+, MultiHop-RAG null queries (reported half) and the "
          "off-topic list")
    table(verbatim_items(questions, lambda r: rtqa_split(r) == "report"),
          null_queries("report") + OFF_TOPIC, [{}] + ([chosen] if chosen else []))
    engine.config = shipped


def calibrate_quotes(engine, questions) -> None:
    """Choose `second_quote_ratio` on RealTime QA 2023, asked end to end: of the ratios whose
    mean quotes per answer is at most 2 (issue 8's bound), the one with the most answers some
    quote holds, the fewer quotes on a tie."""
    items = verbatim_items(questions, lambda r: rtqa_split(r) == "tune")
    base = engine.config
    print(f"tune: {len(items)} RealTime QA items dated 2023")
    print("  second_quote_ratio  first quote  some quote  quotes per answer")
    chosen, best = None, (-1.0, 0.0)
    for ratio in (0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        engine.config = dataclasses.replace(base, second_quote_ratio=ratio)
        a = ask_all(engine, items)
        print(f"  {ratio:<19} {a['first']:.3f}        {a['some']:.3f}       "
              f"{a['quotes_per_answer']:.2f}")
        if a["quotes_per_answer"] <= 2 and (a["some"], -a["quotes_per_answer"]) > best:
            chosen, best = ratio, (a["some"], -a["quotes_per_answer"])
    print(f"  chosen: second_quote_ratio={chosen}")
    engine.config = base


def shortlist_table(config, runs) -> None:
    """How many candidates the ranker must read (answer.shortlist): the first quote and the
    abstentions with the ranker reading only a short list, against reading every candidate."""
    t, w = config.min_answer_score, config.retrieval_weight
    print(f"mean candidates a question: {np.mean([len(c) for *_, c in runs]):.1f}")
    print("shortlist  neighbour  first quote holds the answer  wrongly abstained  "
          "sentences read")
    for n in (4, 6, 8, 12, 16, None):
        for nb in (0.0, 0.5, 1.0):
            cfg = dataclasses.replace(config, ranker_shortlist=n, shortlist_neighbour=nb)
            hit = abst = read = 0
            for q, golds, hits, cands in runs:
                if not cands:
                    abst += 1
                    continue
                art = article_scores(hits)
                kept = shortlist(cands, q, art, cfg)
                read += len(kept)
                top = max(kept, key=lambda c: c.ranker + w * art[c.hit.article.id])
                abst += max(c.ranker for c in kept) < t
                hit += any(g in top.text for g in golds)
            print(f"  {n!s:8} {nb:9}  {hit / len(runs):.3f}                         "
                  f"{abst / len(runs):.3f}              {read / len(runs):.1f}")
            if n is None:
                break


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", help="keep the RealTime QA index here between runs")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--calibrate-names", action="store_true",
                    help="choose names_missing_score and common_name_share (the names check)")
    ap.add_argument("--calibrate-quotes", action="store_true",
                    help="choose second_quote_ratio (when a second or third quote is shown)")
    ap.add_argument("--quick", action="store_true", help="smaller samples")
    ap.add_argument("--ranker-only", action="store_true",
                    help="skip the MiniLM cosine baselines (comparing two rankers)")
    constant_flags(ap)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return
    engine = fresh_engine(args.data_dir)
    apply_constants(engine, args)
    if engine.ranker is None:
        sys.exit("the answer ranker is off (NEWSBOT_RERANKER); nothing to measure")
    articles, questions = load()
    if engine.store.stats().articles != len(articles):
        print(f"indexed {len(articles)} RealTime QA paragraphs in {build(engine, articles):.0f}s")
    if args.calibrate:
        calibrate(engine, questions)
        return
    if args.calibrate_names:
        calibrate_names(engine, questions)
        return
    if args.calibrate_quotes:
        calibrate_quotes(engine, questions)
        return

    n = 1500 if args.quick else 4000
    ranker, cos = engine.ranker, cosine_scorer(engine.embedder)
    print(f"answer ranker: {getattr(ranker, 'name', '?')}; scoring: {engine.config}\n")
    t0 = time.perf_counter()
    scorers = {"ranker": ranker.score} if args.ranker_only else {"ranker": ranker.score,
                                                                  "cosine": cos}
    v1 = squad_v1_dev(scorers, n)
    print(f"SQuAD v1.1 dev, {v1['n']} questions: top sentence holds an answer: ranker "
          f"{v1['ranker']:.3f}, MiniLM cosine {v1.get('cosine', float('nan')):.3f}  "
          f"({time.perf_counter() - t0:.0f}s)")
    rep = squad_v2_scores(ranker, "report", n)
    t = engine.config.min_answer_score
    un = [s for s, ok in rep if not ok]
    ok = [s for s, ok in rep if ok]
    print(f"SQuAD 2.0 dev, reported half ({len(rep)} questions), threshold {t}: unanswerable "
          f"abstained {np.mean([s < t for s in un]):.3f}, answerable wrongly abstained "
          f"{np.mean([s < t for s in ok]):.3f}")
    for name in ("wikiqa_test.jsonl", "trecqa_test.jsonl"):
        m1, r1, k = map_mrr(ranker.score, name)
        m2, r2, _ = (float("nan"),) * 3 if args.ranker_only else map_mrr(cos, name)
        print(f"{name.split('.')[0]} ({k} questions): MAP / MRR ranker {m1:.3f} / {r1:.3f}, "
              f"MiniLM cosine {m2:.3f} / {r2:.3f}")

    items = verbatim_items(questions, lambda r: rtqa_split(r) == "report")
    if args.quick:
        random.Random(7).shuffle(items)
        items = items[:400]
    nulls = null_queries()
    reported = set(null_queries("report"))
    for label in ("ranker",) if args.ranker_only else ("ranker", "no ranker (MiniLM cosine)"):
        if label != "ranker":
            engine.ranker = None
        a = ask_all(engine, items)
        declined = {q: engine.ask(q).abstained for q in nulls}
        print(f"RealTime QA 2024+ ({a['n']} items, as asked), {label}: first quote holds the "
              f"answer {a['first']:.3f}, some quote {a['some']:.3f}, wrongly abstained "
              f"{a['abstained']:.3f}, quotes per answer {a['quotes_per_answer']:.2f} "
              f"({a['verbatim']:.1%} verbatim), ask p50 "
              f"{a['p50_ms']:.0f} ms; abstained: MultiHop-RAG null "
              f"{np.mean(list(declined.values())):.3f} ({len(nulls)}; reported half "
              f"{np.mean([declined[q] for q in reported]):.3f}), off-topic "
              f"{abstained_share(engine, OFF_TOPIC):.3f} ({len(OFF_TOPIC)})")


if __name__ == "__main__":
    main()
