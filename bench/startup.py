"""Start-up: from `python -m bot` to the first answer in Discord (here the local Discord
stand-in of the tests, on 127.0.0.1), on an index of the demo corpus.

    .venv/bin/python bench/startup.py [--runs 3]

Each run starts a fresh `python -m bot` process. The clock starts when the process is spawned
and stops when the answer to an /ask sent the moment the bot is ready has arrived; the time to
ready (identified, guilds received, commands synced) is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT

from index.engine import Engine
from index.settings import IndexSettings
from tests.discord_standin import DiscordStandIn

QUESTION = "What budget did Brackenford approve for public wifi?"


async def one_run(data: Path) -> tuple[float, float]:
    standin = await DiscordStandIn().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CHROMA_"))}
    env.update(NEWSBOT_DATA_DIR=str(data), PYTHONPATH=str(ROOT), DISCORD_TOKEN="bench-token",
               DISCORD_API_BASE=standin.api_base, DISCORD_GATEWAY_URL=standin.gateway_url,
               DEV_GUILD_ID=str(standin.guild_id), REFRESH_MINUTES="0")
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=data.parent, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await standin.wait_ready(timeout=120)
        await standin.wait_for_request(lambda r: r.method == "PUT" and "commands" in r.path,
                                       timeout=60)
        ready = time.perf_counter() - t0
        it = await standin.send_interaction("ask", {"question": QUESTION})
        rec = await it.wait_for(lambda r: r.get("embeds"), timeout=120)
        answered = time.perf_counter() - t0
        assert "Brackenford" in rec["embeds"][0]["description"]
    finally:
        proc.terminate()
        await proc.wait()
        await standin.stop()
    return ready, answered


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="newsbot-startup-")) / "data"
    engine = Engine.from_settings(IndexSettings(data_dir=data))
    engine.add_source(str(ROOT / "demo" / "articles.jsonl"), "demo")
    engine.close()
    runs = [asyncio.run(one_run(data)) for _ in range(args.runs)]
    for i, (ready, answered) in enumerate(runs, 1):
        print(f"run {i}: ready {ready:.1f} s, first answer {answered:.1f} s")
    print(f"median: ready {statistics.median(r for r, _ in runs):.1f} s, first answer "
          f"{statistics.median(a for _, a in runs):.1f} s (target: first answer <= 10 s)")


if __name__ == "__main__":
    main()
