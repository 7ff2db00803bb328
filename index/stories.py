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
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from datasketch import MinHash

from index.store import Store

NUM_PERM = 64
BANDS, ROWS = 16, 4  # 16 bands of 4: pairs above about 0.5 similarity meet in some band
SHINGLE = 4
SEED = 7
COPY_MIN = 0.4  # estimated 4-gram Jaccard at or above which two articles are copies
STORY_MIN = 0.7  # cosine of mean passage vectors at or above which two reports are one story
STORY_DAYS = 2.0  # how far apart in publication two reports of one event may be
SAME_SENTENCE_MIN = 0.7  # how alike two sentences are, figures aside, to be about one thing

_WORD = re.compile(r"\w+")
_FIGURE = re.compile(r"^\d+(?:,\d{3})*(?:\.\d+)?$")


def sketch(text: str) -> np.ndarray:
    """The article's MinHash signature over word 4-grams (lower-cased)."""
    words = _WORD.findall(text.lower())
    grams = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    m = MinHash(num_perm=NUM_PERM, seed=SEED)
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
    arts = store.get_articles(article_ids)
    vectors = store.article_vectors(list(arts))
    copies = 0
    for aid in article_ids:
        a = arts.get(aid)
        if a is None:
            continue
        signature = sketch(a.text)
        keys = bands(signature)
        near = [(likeness(signature, sig), oid, story, copy_of)
                for oid, sig, story, copy_of in store.copy_candidates(keys, aid)]
        best = max(near, default=None)
        if best is not None and best[0] >= COPY_MIN:
            store.set_story(aid, best[2], best[3] or best[1], signature, keys)
            copies += 1
            continue
        store.set_story(aid, _nearest_story(store, a.id, a.published, vectors.get(aid, [])) or aid,
                        None, signature, keys)
    return copies


def _nearest_story(store: Store, aid: str, published: datetime | None,
                   vectors: list[np.ndarray]) -> str | None:
    """The story of the most similar other article published within STORY_DAYS, if close
    enough to be a report of the same event."""
    mine = mean_vector(vectors)
    if mine is None or published is None:
        return None
    when, window = published.timestamp(), STORY_DAYS * 86400
    hits = store.dense(mine, 30, since=when - window, until=when + window)
    others = {p.article_id for p in store.get_passages([i for i, _ in hits]).values()} - {aid}
    if not others:
        return None
    given = {a.id for a in store.get_articles(sorted(others)).values() if a.story}
    theirs = store.article_vectors(sorted(given))  # those not yet given a story join later
    scored = [(float(v @ mine), oid) for oid, vs in theirs.items()
              if (v := mean_vector(vs)) is not None]
    score, best = max(scored, default=(0.0, ""))
    if score < STORY_MIN:
        return None
    found = store.get_articles([best]).get(best)
    return found.story_id if found else None


@dataclass(frozen=True)
class Figures:
    """Two sentences that say the same thing but for a figure."""

    ours: str  # the figure as the first sentence gives it
    theirs: str  # as the second gives it
    about: str  # the words around it, to say what it counts ("Syrian army troops")


_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"


def _tokens(sentence: str) -> list[str]:
    return re.findall(_NUMBER + r"|\w+", sentence.lower())


def _value(figure: str) -> float:
    return float(figure.replace(",", ""))


def differing_figures(ours: str, theirs: str) -> Figures | None:
    """The figure on which two sentences differ, when they are the same sentence but for it
    (the words around it alike, the figure in the same place: one number, or a run of them
    such as a date's day and year); None when they agree or are about different things. A
    figure missing on one side is not a disagreement."""
    a, b = _tokens(ours), _tokens(theirs)
    if not a or not b:
        return None
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
    m = re.search(pattern, sentence.lower())
    if m is None:
        return " ".join(figures), ""
    rest = re.split(r"[,;:.!?()\"“”]", sentence[m.end():], maxsplit=1)[0]
    return sentence[m.start() : m.end()], " ".join(rest.split()[:3])
