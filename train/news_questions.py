"""Questions the team wrote over BBC News articles, for training and judging the answer ranker on
news (the domain the public answer-selection sets lack).

    python train/news_questions.py check FILE...   # validate question files against the corpus
    python train/news_questions.py stats           # counts by split

Each line of `train/news_questions/*.jsonl` is one question about one article of
`../shared/data/bbc_news_summary.jsonl` (the corpus itself stays there, never copied here):

    {"article": "business/001", "question": "...", "answer": "a short verbatim span" | null}

`answer` is a few words copied exactly from the article's body that lie within one sentence
(by newsbot's splitter): the sentence holding them is the one that answers. `null` marks a
question on the article's subject that the article does not answer, which the bot must decline.
Questions are worded as a reader would ask them, not by copying the answering sentence.

Splits are by article, so no article's questions cross them: the article's number modulo 5 is
0 for "report", 1 for "tune", otherwise "train". The corpus holds 133 articles twice under two
ids; both copies go by the first id, so one text never sits in two splits.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.passages import sentence_spans  # noqa: E402

DATA = Path(os.environ.get("NEWSBOT_SHARED_DATA", ROOT.parent / "shared" / "data"))
HERE = ROOT / "train" / "news_questions"


@dataclass(frozen=True)
class NewsQuestion:
    article: str
    question: str
    answer: str | None

    @property
    def split(self) -> str:
        return split_of(self.article)


def split_of(article: str) -> str:
    n = int(first_copy()[article].rsplit("/", 1)[1]) % 5
    return "report" if n == 0 else "tune" if n == 1 else "train"


@cache
def articles() -> dict[str, dict]:
    path = DATA / "bbc_news_summary.jsonl"
    with path.open() as f:
        return {d["id"]: d for d in map(json.loads, f)}


@cache
def first_copy() -> dict[str, str]:
    """Each article's id mapped to the first id under which its text appears."""
    first: dict[str, str] = {}
    for aid, d in articles().items():
        first.setdefault(d["body"].strip(), aid)
    return {aid: first[d["body"].strip()] for aid, d in articles().items()}


@lru_cache(maxsize=1024)
def body_sentences(body: str) -> tuple[str, ...]:
    """The body's sentences, paragraph by paragraph, as newsbot splits them."""
    out: list[str] = []
    for para in body.split("\n\n"):
        para = para.strip()
        out.extend(para[s:e] for s, e in sentence_spans(para))
    return tuple(out)


def holding(q: NewsQuestion) -> list[int]:
    """The indices (in `body_sentences`) of the sentences holding the answer span."""
    if q.answer is None:
        return []
    answer = q.answer
    return [i for i, s in enumerate(body_sentences(articles()[q.article]["body"])) if answer in s]


def answering_sentence(q: NewsQuestion) -> int | None:
    """The index (in `body_sentences`) of the one sentence holding the answer."""
    hits = holding(q)
    return hits[0] if len(hits) == 1 else None


def problems(q: NewsQuestion) -> list[str]:
    arts = articles()
    if q.article not in arts:
        return [f"no article {q.article!r} in the corpus"]
    if not q.question.strip().endswith("?"):
        return ["the question does not end with '?'"]
    if q.answer is None:
        return []
    body = arts[q.article]["body"]
    if q.answer not in body:
        return [f"answer {q.answer!r} is not verbatim in the body"]
    if len(q.answer.split()) > 12:
        return ["answer is longer than 12 words: give a short span of the sentence"]
    hits = holding(q)
    if len(hits) != 1:
        return [f"answer {q.answer!r} lies in {len(hits)} sentences (needs exactly one; a span "
                "across a sentence break lies in none)"]
    return []


def read(path: Path) -> list[NewsQuestion]:
    out = []
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(NewsQuestion(d["article"], d["question"], d.get("answer")))
            except (ValueError, KeyError) as e:
                raise SystemExit(f"{path}:{n}: not a question line ({e})") from None
    return out


def load(split: str | None = None) -> list[NewsQuestion]:
    """Every valid question (of one split), in file order."""
    qs = [q for p in sorted(HERE.glob("*.jsonl")) for q in read(p)]
    return [q for q in qs if not problems(q) and (split is None or q.split == split)]


def main() -> None:
    if not (DATA / "bbc_news_summary.jsonl").exists():
        sys.exit(f"{DATA / 'bbc_news_summary.jsonl'} is absent (see ../shared/data/README.md)")
    if len(sys.argv) > 2 and sys.argv[1] == "check":
        bad = 0
        for p in map(Path, sys.argv[2:]):
            qs = read(p)
            for n, q in enumerate(qs, 1):
                for msg in problems(q):
                    bad += 1
                    print(f"{p}:{n}: {q.article}: {msg}")
            print(f"{p}: {len(qs)} questions, "
                  f"{sum(q.answer is None for q in qs)} unanswerable")
        sys.exit(1 if bad else 0)
    if len(sys.argv) > 1 and sys.argv[1] == "stats":
        qs = load()
        c = Counter((q.split, q.answer is not None) for q in qs)
        for split in ("train", "tune", "report"):
            print(f"{split}: {c[(split, True)]} answerable, {c[(split, False)]} unanswerable")
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
