"""The answer-sentence ranker: a cross-encoder that scores how well a sentence answers a question.

The model is trained by `train/ranker.py` and ships in `index/ranker_model/` as ONNX with int8
weights; ONNX Runtime runs it on the CPU, one (question, sentence) pair a run, two runs at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parent / "ranker_model"


class SentenceRanker(Protocol):
    def score(self, question: str, sentences: Sequence[str],
              contexts: Sequence[str] | None = None) -> np.ndarray:
        """One score in [0, 1] per sentence: how surely it answers the question. `contexts`
        (the headline and the sentence before, one per sentence) help a model trained with
        them to read a sentence that names nothing ("It was decided to ...")."""
        ...


def sentence_contexts(sentences: Sequence[str], headline: str = "") -> list[str]:
    """Each sentence's context, in training and in use alike: the headline and the sentence
    before it."""
    return [" ".join(x for x in (headline, sentences[i - 1] if i else "") if x)
            for i in range(len(sentences))]


def candidate_text(sentence: str, context: str = "") -> str:
    """How a candidate is shown to the ranker, in training and in use alike: the sentence
    first (truncation cuts the context, never the sentence), then its context."""
    return f"{sentence} [SEP] {context}" if context else sentence


class Ranker:
    """Scores (question, sentence) pairs; a score is a probability-like value in [0, 1]."""

    def __init__(self, path: Path | str = BUNDLED, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        self.max_length = int(config.get("max_length", 128))
        self.uses_context = bool(config.get("context", False))
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.enable_truncation(self.max_length, strategy="only_second")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.name = path.name
        # pairs run `threads` at a time, one core each: a single pair splits poorly over two
        # cores (six pairs of 79 tokens: 39 ms one by one on two threads, 29 ms two at once)
        self._pool = (ThreadPoolExecutor(max_workers=threads, thread_name_prefix="newsbot-ranker")
                      if threads > 1 else None)

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """One ONNX run a pair. The int8 model quantizes its activations with one scale for a
        whole batch, padding included, so in a batch a pair's score moved with its companions
        (by up to 0.26 on the demo articles); alone, it is the same every time, and with no
        padding to compute, six pairs run faster one by one than together."""
        if self._pool is not None and len(pairs) > 1:
            return np.array(list(self._pool.map(self._score_one, pairs)), dtype=np.float32)
        return np.array([self._score_one(p) for p in pairs], dtype=np.float32)

    def _score_one(self, pair: tuple[str, str]) -> float:
        enc = self._tok.encode(*pair)
        feed = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        (logits,) = self._session.run(
            ["logits"], {k: v for k, v in feed.items() if k in self._inputs})
        return 1.0 / (1.0 + float(np.exp(-float(logits.reshape(-1)[0]))))

    def score(self, question: str, sentences: Sequence[str],
              contexts: Sequence[str] | None = None) -> np.ndarray:
        if self.uses_context and contexts is not None:
            return self.score_pairs([(question, candidate_text(s, c))
                                     for s, c in zip(sentences, contexts, strict=True)])
        return self.score_pairs([(question, s) for s in sentences])
