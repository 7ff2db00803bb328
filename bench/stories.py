"""Copies and disagreements, measured on labelled cases built from the public corpora.

Copies (index/stories.py: MinHash LSH bands, then the share of agreeing signature values):
- positives: a BBC article and a copy of it with the edits syndication makes (a new first
  sentence, a paragraph dropped, a few words changed, a line added at the end), in varied
  strength;
- negatives: the same article and the most alike *other* article of its category (word
  overlap), the hard case of two reports on one subject. Pairs whose 4-grams overlap by 0.8 or
  more are real duplicates in the corpus, not distinct articles: they are counted and left out.

Disagreements (`differing_figures`):
- positives: a BBC sentence with a figure, against the same sentence with that figure changed;
  RGB's counterfactual snippets whose swapped answer is a number (even ids were read to find
  misses, odd ids are reported);
- negatives: the same sentence unchanged, or with a few words changed but not its figures, and
  every other pair of figure-bearing sentences of one article (different facts).

Articles are split by position: even ones tune the thresholds (the sweep is printed), odd ones
report. Run: .venv/bin/python bench/stories.py
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from index import stories  # noqa: E402
from index.passages import sentence_spans  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WORDS = re.compile(r"\w+")


def _grams(text: str) -> set[str]:
    w = WORDS.findall(text.lower())
    return {" ".join(w[i : i + stories.SHINGLE]) for i in range(max(1, len(w) - 3))}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def _edit(body: str, rng: random.Random) -> str:
    """A syndicated copy: a new lead, maybe a paragraph dropped, some words changed, a line
    added."""
    paras = [p for p in body.split("\n\n") if p.strip()]
    strength = rng.choice([1, 2, 3])
    if len(paras) > 4 and strength >= 2:
        del paras[rng.randrange(1, len(paras))]
    words = " ".join(paras).split()
    pool = [w for w in words if w.isalpha()]
    for _ in range(int(len(words) * 0.02 * strength)):
        words[rng.randrange(len(words))] = rng.choice(pool)
    lead = rng.choice(["Updated with reaction.", "From our correspondents.",
                       "This story was first published by a news agency."])
    tail = rng.choice(["More to follow.", "Reporting by staff.", "Edited for length."])
    return f"{lead} {' '.join(words)} {tail}"


def copy_cases(rows: list[dict], rng: random.Random) -> tuple[list[tuple[str, str, int]], int]:
    cases: list[tuple[str, str, int]] = []
    real = 0
    by_cat: dict[str, list[dict]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    for r in rows:
        cases.append((r["body"], _edit(r["body"], rng), 1))
        mine = set(WORDS.findall(r["body"].lower()))
        others = [o for o in by_cat[r["category"]] if o["id"] != r["id"]]
        best = max(others, key=lambda o: _jaccard(mine, set(WORDS.findall(o["body"].lower()))))
        if _jaccard(_grams(r["body"]), _grams(best["body"])) >= 0.8:
            real += 1
            continue
        cases.append((r["body"], best["body"], 0))
    return cases, real


def is_copy(a: str, b: str, threshold: float) -> bool:
    sa, sb = stories.sketch(a), stories.sketch(b)
    if not set(stories.bands(sa)) & set(stories.bands(sb)):
        return False  # never compared: they share no LSH band
    return stories.likeness(sa, sb) >= threshold


def _figure_sentences(body: str) -> list[str]:
    return [body[s:e] for s, e in sentence_spans(body)
            if re.search(r"\b\d[\d,]*(?:\.\d+)?\b", body[s:e]) and len(body[s:e].split()) >= 6]


def _change_figure(sentence: str, rng: random.Random) -> str:
    nums = list(re.finditer(r"\b\d[\d,]*(?:\.\d+)?\b", sentence))
    m = rng.choice(nums)
    value = float(m.group(0).replace(",", ""))
    new = value + rng.choice([1, 2, 5, 10]) if value < 100 else round(value * rng.choice([0.9, 1.1, 1.25]))
    shown = str(int(new)) if float(new).is_integer() else f"{new:.1f}"
    return sentence[: m.start()] + shown + sentence[m.end() :]


def _reword(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    idx = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 3]
    for i in rng.sample(idx, min(2, len(idx))):
        words[i] = rng.choice(["reportedly", "latest", "official", "local"])
    return " ".join(words)


def figure_cases(rows: list[dict], rng: random.Random) -> list[tuple[str, str, int]]:
    cases: list[tuple[str, str, int]] = []
    for r in rows:
        sents = _figure_sentences(r["body"])
        if not sents:
            continue
        s = rng.choice(sents)
        cases.append((s, _change_figure(s, rng), 1))
        cases.append((s, s, 0))
        cases.append((s, _reword(s, rng), 0))
        cases += [(a, b, 0) for i, a in enumerate(sents) for b in sents[i + 1 :]][:5]
    return cases


def rgb_cases(parity: int) -> list[tuple[str, str, int]]:
    """RGB items with ids of this parity: even ones were read to find what the detector
    missed (a date's day and year both changed), odd ones are reported."""
    path = SHARED / "rgb_en_fact.jsonl"
    cases = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        if item["id"] % 2 != parity:
            continue
        fake, true_answer = str(item["fakeanswer"]), str(item["answer"])
        if not (re.search(r"\d", fake) and re.search(r"\d", true_answer)):
            continue  # the swap is a name, not a figure
        for true, wrong in zip(item["positive"], item["positive_wrong"], strict=False):
            if true != wrong:
                cases.append((true, wrong, 1))
        for true in item["positive"][:1]:
            cases += [(true, neg, 0) for neg in item["negative"][:3]]
    return cases


def prf(cases: list[tuple[str, str, int]], decide) -> tuple[float, float, int, int]:
    tp = fp = fn = 0
    for a, b, label in cases:
        said = decide(a, b)
        tp += said and label == 1
        fp += said and label == 0
        fn += (not said) and label == 1
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall, sum(c[2] for c in cases), sum(1 - c[2] for c in cases)


def main() -> None:
    path = SHARED / "bbc_news_summary.jsonl"
    if not path.exists():
        print(f"skipped: {path} is absent (the public corpora live in ../shared/data)")
        return
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    tune, test = rows[0::2], rows[1::2]
    rng = random.Random(13)
    started = time.perf_counter()
    tune_copies, _ = copy_cases(tune, rng)
    test_copies, real = copy_cases(test, rng)
    print(f"copies: {len(tune_copies)} tune pairs, {len(test_copies)} test pairs "
          f"({real} real duplicates in the test half left out)")
    print("  tune sweep (threshold: precision / recall)")
    for t in (0.3, 0.4, 0.5, 0.6, 0.7):
        p, r, _, _ = prf(tune_copies, lambda a, b, t=t: is_copy(a, b, t))
        print(f"    {t:.1f}: {p:.3f} / {r:.3f}")
    p, r, pos, neg = prf(test_copies, lambda a, b: is_copy(a, b, stories.COPY_MIN))
    print(f"  test, COPY_MIN={stories.COPY_MIN}: precision {p:.3f}, recall {r:.3f} "
          f"({pos} copies, {neg} distinct pairs)")

    tune_figs, test_figs = figure_cases(tune, rng), figure_cases(test, rng)
    print(f"disagreements: {len(tune_figs)} tune pairs, {len(test_figs)} test pairs")
    print("  tune sweep (SAME_SENTENCE_MIN: precision / recall)")
    keep = stories.SAME_SENTENCE_MIN
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        stories.SAME_SENTENCE_MIN = t
        p, r, _, _ = prf(tune_figs, lambda a, b: stories.differing_figures(a, b) is not None)
        print(f"    {t:.1f}: {p:.3f} / {r:.3f}")
    stories.SAME_SENTENCE_MIN = keep
    p, r, pos, neg = prf(test_figs, lambda a, b: stories.differing_figures(a, b) is not None)
    print(f"  test (BBC), SAME_SENTENCE_MIN={keep}: precision {p:.3f}, recall {r:.3f} "
          f"({pos} changed figures, {neg} pairs that agree or are about other things)")
    for parity, half in ((0, "read for misses"), (1, "held out")):
        rgb = rgb_cases(parity)
        p, r, pos, neg = prf(rgb, lambda a, b: stories.differing_figures(a, b) is not None)
        print(f"  RGB counterfactual snippets with numeric answers, {half} half: precision "
              f"{p:.3f}, recall {r:.3f} ({pos} swapped, {neg} distractor pairs)")
    print(f"({time.perf_counter() - started:.0f} s; numpy {np.__version__})")


if __name__ == "__main__":
    main()
