"""Stories: copies of one article, reports of one event by several outlets, and the figures
they disagree on.

- **Copies** (the same wire story republished with small edits, the same article in two feeds)
  are found with MinHash over word 4-grams (`datasketch`): each article's signature is cut into
  LSH bands that the store keeps, so the articles sharing a band are the only ones compared,
  and two articles are copies when the share of their signatures that agree (an estimate of
  the Jaccard similarity of their 4-grams) is at least `COPY_MIN`.
- **Stories**: an article that is not a copy joins the story of the nearest article (the mean
  of its passage vectors) published within `STORY_DAYS` of it, when their cosine is at least
  `STORY_MIN`; otherwise it starts a story of its own.
- **Disagreements**: two sentences of one story that say the same thing but for one figure
  ("killed 76 Syrian soldiers" / "killed 70 Syrian soldiers").

The thresholds were set on the tune half of `bench/stories.py`'s labelled cases and are
reported on the other half (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from index.models import StoredArticle
from index.store import Store

NUM_PERM = 64
BANDS, ROWS = 16, 4  # 16 bands of 4: pairs above about 0.5 similarity meet in some band
SHINGLE = 4
SEED = 7
SCHEME = "affine32"  # datasketch 2's hashing scheme, named so that signatures stay comparable
COPY_MIN = 0.4  # estimated 4-gram Jaccard at or above which two articles are copies
STORY_MIN = 0.7  # cosine of mean passage vectors at or above which two reports are one story
STORY_DAYS = 2.0  # how far apart in publication two reports of one event may be
STORY_SPAN_DAYS = 3.0  # how long after its first report a story still takes new ones
MIN_WORDS = 15  # texts shorter than this are never taken for copies
ASSIGN_BATCH = 200  # articles given their stories together (one Chroma query)
NEAR_PASSAGES = 40  # nearest passages to an article's mean vector read for its story
SAME_SENTENCE_MIN = 0.7  # how alike two sentences are, figures aside, to be about one thing

_WORD = re.compile(r"\w+")
_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_FIGURE = re.compile(f"^{_NUMBER}$")
_DIGIT = re.compile(r"\d")


@functools.cache
def _permutations() -> Any:
    """The MinHash permutations, made once (making them is most of the cost of a sketch)."""
    from datasketch import MinHash  # imported when first needed: it loads scipy (0.5 s)

    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


def sketch(text: str) -> np.ndarray:
    """The article's MinHash signature over word 4-grams (lower-cased)."""
    from datasketch import MinHash

    words = _WORD.findall(text.lower())
    grams = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_permutations(), scheme=SCHEME)
    m.update_batch([g.encode() for g in grams])
    return np.asarray(m.hashvalues, dtype=np.uint64)


def bands(signature: np.ndarray) -> list[str]:
    """The signature's LSH band keys: articles sharing one are compared."""
    return [f"{b}:{hashlib.sha1(signature[b * ROWS:(b + 1) * ROWS].tobytes()).hexdigest()[:16]}"
            for b in range(BANDS)]


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """The share of two signatures that agree: an estimate of their 4-gram Jaccard."""
    return float(np.mean(a == b))


def mean_vector(vectors: list[np.ndarray]) -> np.ndarray | None:
    """An article's vector: the normalised mean of its passages' vectors."""
    if not vectors:
        return None
    m = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(m))
    return m / norm if norm else None


def assign(store: Store, article_ids: Sequence[str]) -> int:
    """Give each of these articles (oldest first) its story: the story of the article it copies,
    else of the nearest report of the same days, else its own. Returns how many were copies."""
    copies = 0
    for i in range(0, len(article_ids), ASSIGN_BATCH):
        copies += _assign(store, article_ids[i : i + ASSIGN_BATCH])
    return copies


def _assign(store: Store, article_ids: Sequence[str]) -> int:
    arts = store.get_articles(article_ids)
    near = _near_reports(store, [arts[i] for i in article_ids if i in arts])
    copies = 0
    for aid in article_ids:
        a = arts.get(aid)
        if a is None:
            continue
        signature = sketch(a.text)
        # a stub ("Video", "Read the full story") says nothing about which report it is: it is
        # a story of its own, and not banded (thousands of stubs would share every band)
        if len(_WORD.findall(a.text)) < MIN_WORDS:
            store.set_story(aid, aid, None, signature, [])
            continue
        keys = bands(signature)
        alike = [(likeness(signature, sig), oid, story, copy_of)
                 for oid, sig, story, copy_of in store.copy_candidates(keys, aid)]
        # an article edited after its copies were indexed is still their original
        own_copies = [x for x in alike if x[3] == aid]
        best = max((x for x in alike if x[3] != aid), default=None)
        if best is not None and best[0] >= COPY_MIN:
            store.set_story(aid, best[2], best[3] or best[1], signature, keys)
            copies += 1
            continue
        story = own_copies[0][2] if own_copies else None
        for oid in near.get(aid, []) if story is None else []:  # the nearest first
            other = store.get_articles([oid]).get(oid)
            if other is not None and other.story and _young(store, other.story, a.published):
                story = other.story
                break
        store.set_story(aid, story or aid, None, signature, keys)
    return copies


def within_days(a: datetime | None, b: datetime | None, days: float) -> bool:
    """Whether two publication dates are at most `days` apart (an unknown date is not held
    against it)."""
    return a is None or b is None or abs((a - b).total_seconds()) <= days * 86400


def _young(store: Store, story: str, published: datetime | None) -> bool:
    """Whether a story began (its first report, whose id it bears) within STORY_SPAN_DAYS of
    this date: a running topic covered daily becomes several stories, not one."""
    first = store.get_articles([story]).get(story)
    return first is None or within_days(published, first.published, STORY_SPAN_DAYS)


def _near_reports(store: Store, arts: list[StoredArticle]) -> dict[str, list[str]]:
    """For each dated article, the other articles published within STORY_DAYS of it whose
    mean vector is within STORY_MIN of its own, nearest first. Chroma is asked once for the
    whole batch (nearest passages to each article's mean vector, no date filter: a `where`
    would scan every matching id) and the window is applied here."""
    vectors = store.article_vectors([a.id for a in arts])
    mine = {a.id: v for a in arts if a.published is not None
            and (v := mean_vector(vectors.get(a.id, []))) is not None}
    if not mine:
        return {}
    found = store.dense_many(np.stack(list(mine.values())), NEAR_PASSAGES)
    passages = store.get_passages({pid for hits in found for pid, _ in hits})
    others = sorted({p.article_id for p in passages.values()})
    dates = {i: a.published for i, a in store.get_articles(others).items()}
    theirs = {oid: v for oid, vs in store.article_vectors(others).items()
              if (v := mean_vector(vs)) is not None}
    published = {a.id: a.published for a in arts}
    out: dict[str, list[str]] = {}
    for aid, hits in zip(mine, found, strict=True):
        when = published[aid]
        scored = []
        for oid in dict.fromkeys(passages[p].article_id for p, _ in hits if p in passages):
            other = dates.get(oid)
            if oid == aid or other is None or oid not in theirs \
                    or not within_days(other, when, STORY_DAYS):
                continue
            score = float(theirs[oid] @ mine[aid])
            if score >= STORY_MIN:
                scored.append((score, oid))
        out[aid] = [oid for _, oid in sorted(scored, reverse=True)]
    return out


@dataclass(frozen=True)
class Figures:
    """Two sentences that say the same thing but for a figure."""

    ours: str  # the figure as the first sentence gives it
    theirs: str  # as the second gives it
    about: str  # the words around it, to say what it counts ("Syrian army troops")


def _tokens(sentence: str) -> list[str]:
    return re.findall(_NUMBER + r"|\w+", sentence.lower())


def _value(figure: str) -> float:
    return float(figure.replace(",", ""))


def has_figure(text: str) -> bool:
    return _DIGIT.search(text) is not None


def differing_figures(ours: str, theirs: str) -> Figures | None:
    """The figure on which two sentences differ, when they are the same sentence but for it
    (the words around it alike, the figure in the same place: one number, or a run of them
    such as a date's day and year); None when they agree or are about different things. A
    figure missing on one side is not a disagreement."""
    if not (has_figure(ours) and has_figure(theirs)):
        return None
    a, b = _tokens(ours), _tokens(theirs)
    shape_a = ["#" if _FIGURE.match(t) else t for t in a]
    shape_b = ["#" if _FIGURE.match(t) else t for t in b]
    if difflib.SequenceMatcher(None, shape_a, shape_b, autojunk=False).ratio() \
            < SAME_SENTENCE_MIN:
        return None
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op != "replace" or i2 - i1 != j2 - j1:
            continue
        xs, ys = a[i1:i2], b[j1:j2]
        if all(_FIGURE.match(t) for t in xs + ys) and \
                [_value(x) for x in xs] != [_value(y) for y in ys]:
            shown, after = _shown(ours, xs)
            return Figures(ours=shown, theirs=_shown(theirs, ys)[0], about=after)
    return None


def _shown(sentence: str, figures: list[str]) -> tuple[str, str]:
    """The figures as the sentence prints them ("1.42", "1, 2017"), and up to three words
    after them, to the next punctuation ("million euros")."""
    pattern = r"(?<![\d.,])" + r"\W{1,3}".join(re.escape(f) for f in figures) + r"(?!\d)"
    m = re.search(pattern, sentence, flags=re.IGNORECASE)
    if m is None:
        return " ".join(figures), ""
    rest = re.split(r"[,;:.!?()\"“”]", sentence[m.end():], maxsplit=1)[0]
    return sentence[m.start() : m.end()], " ".join(rest.split()[:3])
