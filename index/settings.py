"""The engine's settings, read from the environment (and `.env`) by the entry points only.

Names follow one scheme: `NEWSBOT_*` for the engine, `CHROMA_*` for a Chroma server, `LLM_*` for
the optional phrasing endpoint. Every variable is in `.env.example`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChromaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHROMA_", env_file=".env", extra="ignore")

    host: str | None = None  # unset: Chroma embedded in the data directory
    port: int = 8000


class LLMSettings(BaseSettings):
    """Optional generative phrasing through an OpenAI-compatible endpoint."""

    model_config = SettingsConfigDict(env_prefix="LLM_", env_file=".env", extra="ignore")

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.base_url and self.model)


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    # postgresql://USER:PASSWORD@HOST:PORT/DB: sources, articles, passages and the lexical index
    # in PostgreSQL, shared by bot processes on several hosts (vectors in Chroma, best a Chroma
    # server). Unset: SQLite in the data directory.
    database_url: SecretStr | None = None
    # A sentence-transformers model name or local path; empty means the bundled all-MiniLM-L6-v2.
    model: str = ""
    # How the bundled model runs: "int8" (ONNX Runtime, index/embed_model) or "fp32"
    # (sentence-transformers on torch). An index keeps working across the two (cosine 0.99).
    embedder: Literal["int8", "fp32"] = "int8"
    # The answer ranker: empty means the one shipped in index/ranker_model, "off" disables it,
    # anything else is a folder holding model.onnx, tokenizer.json and config.json.
    reranker: str = ""
    # URL sources may not reach loopback/private/link-local addresses unless this is set.
    allow_private_urls: bool = False
    fetch_timeout: float = 20.0
    max_source_bytes: int = 20_000_000
    # One Discord server may add this many sources, and have this many of them read per refresh
    # (the least recently read first; the rest wait for the next refresh).
    server_source_limit: int = 20
    server_fetch_limit: int = 10
    # Prometheus metrics of the bot process on http://METRICS_HOST:PORT/metrics; 0: off.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
