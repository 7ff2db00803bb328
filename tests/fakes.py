"""Test doubles for pure unit tests: a deterministic embedder."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np


class FakeEmbedder:
    """Hashed bag of words: deterministic, instant, similar texts get similar vectors. Tests only."""

    name = "fake"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls = 0
        self.texts_encoded = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                h = int(hashlib.md5(w.encode()).hexdigest()[:8], 16)
                out[i, h % self.dim] += 1.0
            norm = math.sqrt(float((out[i] ** 2).sum())) or 1.0
            out[i] /= norm
        return out
