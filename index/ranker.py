"""The answer-sentence ranker: a cross-encoder that scores how well a sentence answers a question.

The model is trained by `train/ranker.py` and ships in `index/ranker_model/` as ONNX with int8
weights; ONNX Runtime runs it on the CPU, all candidates of a question in one batch.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).resolve().parent / "ranker_model"
BATCH = 64  # pairs per ONNX run: bounds memory; questions rarely have more candidates


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
        self._tok.enable_padding()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path / "model.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()  # the tokenizer's padding state is shared
        self.name = path.name

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores in batches of at most BATCH pairs: one batch of every sentence of long
        articles grew a process by a gigabyte (ONNX Runtime keeps its largest buffers)."""
        if len(pairs) > BATCH:
            return np.concatenate([self._score(pairs[i:i + BATCH])
                                   for i in range(0, len(pairs), BATCH)])
        return self._score(pairs)

    def _score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            encs = self._tok.encode_batch([(q, s) for q, s in pairs])
        feed = {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
        feed = {k: v for k, v in feed.items() if k in self._inputs}
        (logits,) = self._session.run(["logits"], feed)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-logits.reshape(-1).astype(np.float64)))
        return out.astype(np.float32)

    def score(self, question: str, sentences: Sequence[str],
              contexts: Sequence[str] | None = None) -> np.ndarray:
        if self.uses_context and contexts is not None:
            return self.score_pairs([(question, candidate_text(s, c))
                                     for s, c in zip(sentences, contexts, strict=True)])
        return self.score_pairs([(question, s) for s in sentences])
