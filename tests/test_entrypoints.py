"""The two ways people start newsbot: `make run` without a token (the terminal session) and
`python -m bot` (the bot, here pointed at the local Discord stand-in)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, copy_demo
from tests.discord_standin import DiscordStandIn

pytestmark = pytest.mark.slow


def _env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CHROMA_"))}
    env.update({"NEWSBOT_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), **extra})
    return env


def test_run_without_a_token_indexes_the_demo_and_answers_typed_questions(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bot.run"], cwd=tmp_path, env=_env(tmp_path), timeout=300,
        input="How many flights did Schiphol cancel during Storm Ciara?\nsources\nquit\n",
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "First run: indexing the demo corpus" in out
    assert "DISCORD_TOKEN is not set" in out
    assert "about 240 arrivals and departures" in out and "[1] Storm Ciara" in out
    assert "demo: 8 articles" in out and "demo-feed: 3 articles" in out
    # a second start finds the index and does not embed again
    again = subprocess.run([sys.executable, "-m", "bot.run"], cwd=tmp_path, env=_env(tmp_path),
                           input="quit\n", capture_output=True, text=True, timeout=300)
    assert "First run" not in again.stdout


def test_python_m_bot_without_a_token_says_so(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "DISCORD_TOKEN is not set" in proc.stderr


async def test_python_m_bot_against_the_stand_in(tmp_path, demo_index):

    standin = DiscordStandIn()
    await standin.start()
    token = "secret-token-never-logged"
    env = _env(tmp_path, DISCORD_TOKEN=token, DISCORD_API_BASE=standin.api_base,
               DISCORD_GATEWAY_URL=standin.gateway_url, DEV_GUILD_ID=str(standin.guild_id),
               REFRESH_MINUTES="0")
    # the demo index built with the session's model (the CLI's own process is tested in test_cli)
    copy_demo(demo_index, tmp_path / "data")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await standin.wait_ready(timeout=120)
        await standin.wait_for_request(lambda r: r.method == "PUT" and "commands" in r.path,
                                       timeout=60)
        it = await standin.send_interaction(
            "ask", {"question": "Who scored the winning goal in the Coastal Cup final?"})
        rec = await it.wait_for(lambda r: r.get("embeds"), timeout=60)
        assert "Coastal Cup" in rec["embeds"][0]["description"]
        assert standin.identified_token == token
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        await standin.stop()
    log = out.decode()
    assert "newsbot" in log or "discord" in log
    assert token not in log


@pytest.mark.parametrize("discord_answers", ["401", "nothing"])
def test_a_refused_token_or_an_unreachable_discord_is_one_line(tmp_path, discord_answers):
    import http.server
    import socket
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"message": "401: Unauthorized", "code": 0}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = None
    if discord_answers == "401":
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
    else:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    token = "wrong-token-never-shown"
    env = _env(tmp_path, DISCORD_TOKEN=token, DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
               DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{port}/gateway", NEWSBOT_RERANKER="off")
    try:
        proc = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    finally:
        if server:
            server.shutdown()
            server.server_close()
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and token not in proc.stderr + proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    want = "Discord refused the token" if discord_answers == "401" else "Could not reach Discord"
    assert last.startswith(want), proc.stderr[-2000:]
