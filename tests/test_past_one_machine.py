"""The index on servers: a real PostgreSQL and a real `chroma run` on 127.0.0.1, stopped and
restarted under a connected bot; two bot processes (shards 0 and 1), each in its own working
folder with no shared files, sharing one PostgreSQL, one Chroma server and the Discord stand-in;
a process's Prometheus metrics scraped while it answers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.settings import BotSettings
from index.errors import IndexUnavailable
from tests.conftest import DEMO, ROOT, bot_online, make_engine
from tests.discord_standin import DiscordStandIn
from tests.servers import ChromaServer, free_port
from tests.test_servers_e2e import LEDGER, _text

pytestmark = pytest.mark.slow

GOAL = "Who scored the winning goal in the Coastal Cup final?"


@pytest.fixture
def chroma(tmp_path):
    server = ChromaServer(tmp_path / "chroma-server")
    server.start()
    yield server
    server.stop()


async def _ask(standin, question: str, guild: int | None = None, user: str = "regular"):
    it = await standin.send_interaction("ask", {"question": question}, user=user,
                                        guild_id=guild)
    return await it.wait_for(lambda r: r.get("embeds") or (
        r["kind"] != "interaction_response" and (r.get("content") or "").strip(" …")), 90)


async def test_servers_that_go_away_and_come_back(tmp_path, model, pg_server, pg_url, chroma):
    engine = make_engine(tmp_path / "data", model, chroma_host="127.0.0.1",
                         chroma_port=chroma.port, database_url=pg_url)
    engine.add_source(str(DEMO / "articles.jsonl"), "demo")
    standin = DiscordStandIn()
    await standin.start()
    settings = BotSettings(discord_api_base=standin.api_base,
                           discord_gateway_url=standin.gateway_url, refresh_minutes=0,
                           admin_role_ids="", discord_token=None, ask_cooldown_uses=100)
    try:
        async with bot_online(standin, engine, settings, "test-token-servers-away") as bot:
            assert "Coastal Cup" in _text(await _ask(standin, GOAL))
            for server in (pg_server, chroma):
                await asyncio.to_thread(server.stop)
                down = await _ask(standin, GOAL)
                assert _text(down) == IndexUnavailable.USER_MESSAGE, (server, down)
                since = len(standin.sent)
                await standin.send_message(GOAL, mentions_bot=True)
                await standin.wait_for(  # a mention gets the same sentence, not silence
                    lambda r: IndexUnavailable.USER_MESSAGE in (r.get("content") or ""), 60,
                    since=since)
                await asyncio.to_thread(server.start)
                # back by itself: no restart of the bot, the store or the engine
                assert "Coastal Cup" in _text(await _ask(standin, GOAL)), server
            assert not bot.is_closed() and len(standin.identify_payloads) == 1
            standin.assert_clean()
    finally:
        await standin.stop()
        engine.close()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "index.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_names_the_server_that_is_away_and_a_new_chroma_is_refilled(tmp_path, pg_server, pg_url,
                                                           chroma):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHROMA_", "NEWSBOT_"))}
    env.update(NEWSBOT_DATA_DIR=str(tmp_path / "data"), NEWSBOT_DATABASE_URL=pg_url,
               CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(chroma.port), PYTHONPATH=str(ROOT))
    ok = _cli(env, "index", "add", str(DEMO / "articles.jsonl"), "--name", "demo")
    assert ok.returncode == 0, ok.stderr
    chroma.stop()
    down = _cli(env, "ask", GOAL)
    assert down.returncode != 0
    assert "Traceback" not in down.stderr
    lines = down.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Chroma server at 127.0.0.1:{chroma.port}" in lines[0], lines
    chroma.start()
    pg_server.stop()
    try:
        down = _cli(env, "ask", GOAL)
    finally:
        pg_server.start()
    lines = down.stderr.strip().splitlines()
    assert down.returncode != 0 and len(lines) == 1, down.stderr
    assert f"PostgreSQL at 127.0.0.1:{pg_server.port}" in lines[0] and "unavailable" in lines[0]
    assert "Coastal Cup" in _cli(env, "ask", GOAL).stdout
    # a new, empty Chroma server is refilled from PostgreSQL's copy of the vectors at start
    fresh = ChromaServer(tmp_path / "another-chroma")
    fresh.start()
    try:
        env["CHROMA_PORT"] = str(fresh.port)
        assert "Coastal Cup" in _cli(env, "ask", GOAL).stdout
    finally:
        fresh.stop()


def _bot(tmp_path: Path, name: str, standin, pg_url: str, chroma_port: int, shard: int,
         **extra: str) -> subprocess.Popen[bytes]:
    """`python -m bot` in a working folder of its own: nothing shared with the others but the
    servers."""
    home = tmp_path / name
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHROMA_", "NEWSBOT_", "DISCORD_", "SHARD_"))}
    env.update(PYTHONPATH=str(ROOT), NEWSBOT_DATA_DIR=str(home / "data"),
               NEWSBOT_DATABASE_URL=pg_url, CHROMA_HOST="127.0.0.1",
               CHROMA_PORT=str(chroma_port), DISCORD_TOKEN="token-of-the-deployment",
               DISCORD_API_BASE=standin.api_base, DISCORD_GATEWAY_URL=standin.gateway_url,
               SHARD_COUNT="2", SHARD_IDS=str(shard), REFRESH_MINUTES="0",
               NEWSBOT_ALLOW_PRIVATE_URLS="1", **extra)
    return subprocess.Popen([sys.executable, "-m", "bot"], cwd=home, env=env,
                            stdout=(home / "log").open("wb"), stderr=subprocess.STDOUT)


async def _synced(standin, processes: int, timeout: float = 120) -> None:
    """Until this many processes synced their commands and identified, and every guild has a
    connected shard."""
    for _ in range(int(timeout * 10)):
        synced = sum(r.method == "PUT" and "commands" in r.path for r in standin.requests)
        if synced >= processes and len(standin.identify_payloads) >= processes and all(
                standin._conn(g) is not None for g in standin.guild_channels):
            await asyncio.sleep(0.5)  # its GUILD_CREATE handled
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{processes} bot processes did not sync their commands")


async def test_two_bot_processes_share_the_index(tmp_path, model, pg_url, chroma, web):
    (tmp_path / "ledger.xml").write_text(LEDGER)
    standin = DiscordStandIn(shard_count=2, guilds=2)
    await standin.start()
    g0, g1 = list(standin.guild_channels)  # owned by shards 0 and 1
    assert (g0 >> 22) % 2 == 0 and (g1 >> 22) % 2 == 1
    metrics_port = free_port()
    procs = {"first": _bot(tmp_path, "first", standin, pg_url, chroma.port, 0),
             "second": _bot(tmp_path, "second", standin, pg_url, chroma.port, 1,
                            NEWSBOT_METRICS_PORT=str(metrics_port))}
    try:
        await standin.wait_ready(timeout=120)
        await _synced(standin, 2)  # each process syncs the commands
        # the operator indexes the demo corpus from a third place, the bots running
        cli = make_engine(tmp_path / "operator", model, chroma_host="127.0.0.1",
                          chroma_port=chroma.port, database_url=pg_url)
        cli.add_source(str(DEMO / "articles.jsonl"), "demo")
        cli.close()
        # ... and the second process answers from it, without a restart
        assert "Coastal Cup" in _text(await _ask(standin, GOAL, g1))

        # an admin adds a source through the first process (its server, g0) ...
        it = await standin.send_interaction(
            "source add", {"url_or_feed": f"{web}/ledger.xml", "name": "ledger"}, user="admin",
            guild_id=g0)
        await it.wait_for(lambda r: (r.get("content") or "").startswith("Added."), 120)
        # ... the first process is killed; the second keeps answering its server
        procs["first"].send_signal(signal.SIGKILL)
        procs["first"].wait(timeout=30)
        assert "Coastal Cup" in _text(await _ask(standin, GOAL, g1))
        # a new process for shard 0, in a new folder, answers g0 from the source the killed one
        # added: a verified quote from the feed
        procs["again"] = _bot(tmp_path, "again", standin, pg_url, chroma.port, 0)
        await _synced(standin, 3)
        rec = await _ask(standin, "What did the Lanternfield public library open on Sunday?",
                         g0)
        assert "night reading room" in _text(rec) and "Lanternfield Ledger" in _text(rec)
        # the second process's metrics, scraped
        body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        answered = re.search(r'newsbot_questions_total\{outcome="answered"\} (\S+)', body)
        assert answered and float(answered.group(1)) >= 2, body[:2000]
        assert re.search(r"newsbot_answer_seconds_count (\S+)", body)
        passages = re.search(r'newsbot_index_size\{what="passages"\} (\S+)', body)
        assert passages and float(passages.group(1)) > 10
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        await standin.stop()
    for name in procs:
        log = (tmp_path / name / "log").read_text(errors="replace")
        assert "token-of-the-deployment" not in log
        assert "Traceback" not in log, log[-3000:]


def test_the_scheduled_refresh_runs_once_per_deployment(tmp_path, pg_url):
    """Two processes' engines on one PostgreSQL, each on its own timer: the first to fire takes
    the period's turn, the other skips it; after the period, the turn is free again."""
    from tests.fakes import FakeEmbedder

    feed = tmp_path / "a.jsonl"
    feed.write_text('{"id": "a1", "title": "Tram line opens", "text": "The new tram line '
                    'opened on Friday."}\n')
    a = make_engine(tmp_path / "a", FakeEmbedder(), database_url=pg_url)
    b = make_engine(tmp_path / "b", FakeEmbedder(), database_url=pg_url)
    try:
        a.add_source(str(feed), "city")
        assert a.store.claim_turn("scheduled_refresh", 1000.0, 60)  # an earlier period
        assert b.scheduled_refresh(60) is not None  # now: a new period, b's turn
        assert a.scheduled_refresh(60) is None  # a's timer fires just after: skipped
        assert not b.store.claim_turn("scheduled_refresh", 1e12 - 1, 1e12)
    finally:
        a.close()
        b.close()


def test_writers_take_turns_across_processes_and_threads(tmp_path, pg_url):
    """The writers' lock is PostgreSQL's: a second store (another host) and another thread of
    the same process both wait for it; a closed session (a dead writer) releases it."""
    import threading

    from tests.fakes import FakeEmbedder

    a = make_engine(tmp_path / "a", FakeEmbedder(), database_url=pg_url)
    b = make_engine(tmp_path / "b", FakeEmbedder(), database_url=pg_url)
    try:
        with a.store.writer_lock() as held:
            assert held
            with b.store.writer_lock() as other:
                assert not other
            seen: list[bool] = []

            def try_lock() -> None:
                with a.store.writer_lock() as t:
                    seen.append(t)
            thread = threading.Thread(target=try_lock)
            thread.start()
            thread.join()
            assert seen == [False]
            a.store._writer_conn.close()  # the writer's session ends without unlocking
            # (its server process ends just after the client hangs up: the lock is free once
            # it has, a few milliseconds later)
            for _ in range(50):
                with b.store.writer_lock() as other:
                    if other:
                        break
                time.sleep(0.1)
            assert other
    finally:
        a.close()
        b.close()
