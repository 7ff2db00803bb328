from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.client import NewsBot
from bot.gateway import point_at, restore
from bot.settings import BotSettings
from index.embed import make_embedder
from index.engine import Engine, load_ranker, open_store
from index.models import Answer
from index.settings import ChromaSettings, IndexSettings
from index.sources import Fetcher
from index.store import make_chroma_client
from index.wording import answer_text
from tests.fakes import FakeEmbedder
from tests.servers import PgServer

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
SHARED = Path(os.environ.get("NEWSBOT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the public corpora live in ../shared/data")
    return path


def text(answer: Answer) -> str:
    """An answer as the CLI words it."""
    return answer_text(answer, "add a source with `newsbot index add`.")


_RANKER = None


def ranker():
    """The shipped answer ranker, loaded once."""
    global _RANKER
    if _RANKER is None:
        _RANKER = load_ranker("")
    return _RANKER


def make_engine(data_dir: Path, embedder, allow_private: bool = False,
                chroma_host: str | None = None, chroma_port: int = 8000,
                with_ranker: bool | None = None, database_url: str | None = None) -> Engine:
    """A real store (SQLite, or PostgreSQL given its URL) and Chroma; the shipped ranker with
    the real model, none with the fake."""
    settings = IndexSettings(data_dir=data_dir, allow_private_urls=allow_private,
                             chroma=ChromaSettings(host=chroma_host, port=chroma_port),
                             database_url=database_url)
    client = make_chroma_client(data_dir, settings.chroma.host, settings.chroma.port)
    fetcher = Fetcher(timeout=5, max_bytes=settings.max_source_bytes, allow_private=allow_private)
    use = not isinstance(embedder, FakeEmbedder) if with_ranker is None else with_ranker
    return Engine(open_store(settings, client), embedder, fetcher,
                  ranker=ranker() if use else None)


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server on 127.0.0.1 for this test session (one per xdist worker)."""
    server = PgServer()
    try:
        server.start()
    except Exception as exc:
        server.cleanup()
        pytest.skip(f"PostgreSQL cannot start on this machine: {exc}")
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store_backend() -> str:
    """Which store `fake_engine` uses; modules that test both override it with
    `params=BACKENDS`."""
    return "sqlite"


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture
def database_url(request, store_backend) -> str | None:
    return request.getfixturevalue("pg_url") if store_backend == "postgres" else None


@pytest.fixture
def fake_engine(tmp_path, database_url):
    """Real SQLite (or PostgreSQL) and embedded Chroma, a hashed bag-of-words embedder: for unit
    tests."""
    engine = make_engine(tmp_path / "data", FakeEmbedder(), database_url=database_url)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def model():
    """The real bundled all-MiniLM-L6-v2 as the product runs it (int8 ONNX), loaded once for
    the session."""
    emb = make_embedder()
    emb.encode(["warm up"])
    return emb


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory, model) -> Path:
    """The demo corpus indexed once with the real model (a closed data directory): tests that
    need their own index copy it with `copy_demo` instead of re-embedding it."""
    data = tmp_path_factory.mktemp("demo-template") / "data"
    engine = make_engine(data, model)
    engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    engine.close()
    return data


def copy_demo(template: Path, data_dir: Path) -> Path:
    """A private copy of the demo index at data_dir (the same rows and vectors as a fresh
    `index add` of the demo corpus with the real model)."""
    shutil.copytree(template, data_dir)
    return data_dir


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


@pytest.fixture
def web(tmp_path):
    """The admin's feed, served on 127.0.0.1 (the engine here allows private addresses)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@contextlib.asynccontextmanager
async def bot_online(standin, engine: Engine, settings: BotSettings,
                     token: str = "test-token") -> AsyncIterator[NewsBot]:
    """The real bot connected to a started Discord stand-in, ready and its commands synced;
    closed (and discord.py's URLs restored) afterwards."""
    old = point_at(settings.discord_api_base, settings.discord_gateway_url)
    bot = NewsBot(engine, settings, guild_ready_timeout=0.1)
    task = asyncio.create_task(bot.start(token))
    try:
        await standin.wait_ready(timeout=30)
        await standin.wait_for_request(lambda r: r.method == "PUT" and "commands" in r.path)
        yield bot
    finally:
        await bot.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        restore(old)

