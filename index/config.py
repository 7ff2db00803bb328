"""Engine settings, read from the environment (and `.env`)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    newsbot_data_dir: Path = Path("data")
    chroma_host: str | None = None
    chroma_port: int = 8000
    # A sentence-transformers model name or local path; empty means the bundled all-MiniLM-L6-v2.
    newsbot_model: str = ""
    # URL sources may not reach loopback/private/link-local addresses unless this is set.
    newsbot_allow_private_urls: bool = False
    newsbot_fetch_timeout: float = 20.0
    newsbot_max_source_bytes: int = 20_000_000
    # Optional generative phrasing through an OpenAI-compatible endpoint.
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
