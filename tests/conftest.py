from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.config import IndexSettings
from index.embed import FakeEmbedder, SentenceTransformerEmbedder
from index.engine import Engine
from index.sources import Fetcher
from index.store import Store, make_chroma_client

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
SHARED = Path(os.environ.get("NEWSBOT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the public corpora live in ../shared/data")
    return path


def make_engine(data_dir: Path, embedder, allow_private: bool = False, **kw) -> Engine:
    settings = IndexSettings(newsbot_data_dir=data_dir, newsbot_allow_private_urls=allow_private,
                             **kw)
    client = make_chroma_client(data_dir, settings.chroma_host, settings.chroma_port)
    fetcher = Fetcher(timeout=5, max_bytes=settings.newsbot_max_source_bytes,
                      allow_private=allow_private)
    return Engine(Store(data_dir, client), embedder, fetcher, settings)


@pytest.fixture
def fake_engine(tmp_path):
    """Real SQLite and embedded Chroma, a hashed bag-of-words embedder: for unit tests."""
    engine = make_engine(tmp_path / "data", FakeEmbedder())
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def model():
    """The real bundled all-MiniLM-L6-v2, loaded once for the session."""
    emb = SentenceTransformerEmbedder()
    emb.encode(["warm up"])
    return emb


@pytest.fixture(scope="session")
def demo_engine(tmp_path_factory, model):
    """The demo corpus (plus the real Sputnik article when ../shared is there) indexed with the
    real model."""
    engine = make_engine(tmp_path_factory.mktemp("demo"), model)
    engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    sputnik = SHARED / "idlib_talks_sputnik.txt"
    if sputnik.exists():
        engine.add_source(str(sputnik), "sputnik")
    yield engine
    engine.close()
