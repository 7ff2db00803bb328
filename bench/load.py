"""Load through Discord: many people asking at once, answered by one `python -m bot` process.

    .venv/bin/python bench/load.py [--questions 48] [--concurrency 1 4 8]
    .venv/bin/python bench/load.py --questions 500 --concurrency 50   # 50 users, 500 questions

The bot runs as its own process against the tests' Discord stand-in on 127.0.0.1, on an index of
the demo corpus (and the Sputnik article when ../shared/data has it). Each question is an /ask
from its own user (so the per-user cooldown does not apply), sent as soon as a slot is free;
latency runs from sending the interaction to the answer's embed arriving. For each level of
concurrency: questions per second, the wall time, how many were answered, and latency p50 /
p95. At the end: the gateway's warnings in the bot's log (discord.py's "heartbeat blocked" and
"Can't keep up", which mean the event loop was blocked) and the bot process's peak resident
memory (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT

from index.engine import Engine
from index.settings import IndexSettings
from tests.discord_standin import DiscordStandIn, FakeUser

QUESTIONS = [
    "How many flights did Schiphol cancel during Storm Ciara?",
    "Who scored the winning goal in the Coastal Cup final?",
    "How much container traffic did the Port of Saltmere handle in 2019?",
    "How much capacity did the Aldercombe zinc battery keep after 5,000 cycles?",
    "How many votes did the Brackenford wifi budget pass by?",
    "Which province did the Turkish convoy travel through?",
    "Who led the delegations at the Ankara talks?",
    "What is the best recipe for banana bread?",
]


async def level(standin: DiscordStandIn, n: int, concurrency: int,
                users: itertools.count) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            user = FakeUser(next(users), f"reader{i}")
            t0 = time.perf_counter()
            it = await standin.send_interaction("ask", {"question": QUESTIONS[i % len(QUESTIONS)]},
                                                user=user)
            try:
                await it.wait_for(lambda r: r.get("embeds"), timeout=300)
            except TimeoutError:
                return  # not answered: counted by its absence
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0, latencies


async def run(data: Path, n: int, levels: list[int]) -> None:
    standin = await DiscordStandIn().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CHROMA_"))}
    env.update(NEWSBOT_DATA_DIR=str(data), PYTHONPATH=str(ROOT), DISCORD_TOKEN="bench-token",
               DISCORD_API_BASE=standin.api_base, DISCORD_GATEWAY_URL=standin.gateway_url,
               DEV_GUILD_ID=str(standin.guild_id), REFRESH_MINUTES="0")
    log_path = data.parent / "bot.log"
    log = open(log_path, "wb")  # noqa: SIM115 (the bot process writes it until the end)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=data.parent, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=log)
    users = itertools.count(900_000_000_000_000_000)
    try:
        await standin.wait_ready(timeout=120)
        await standin.wait_for_request(lambda r: r.method == "PUT" and "commands" in r.path,
                                       timeout=60)
        await level(standin, len(QUESTIONS), 2, users)  # warm-up: models loaded, caches filled
        print(f"{n} questions a level, one bot process (2 cores)")
        print("concurrent  questions/s  wall s  answered  p50 ms  p95 ms")
        for c in levels:
            secs, lat = await level(standin, n, c, users)
            lat.sort()
            p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else float("nan")
            p50 = statistics.median(lat) if lat else float("nan")
            print(f"{c:10d}  {n / secs:11.2f}  {secs:6.1f}  {len(lat):4d}/{n:<4d} "
                  f"{p50 * 1000:6.0f}  {p95 * 1000:6.0f}", flush=True)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        print(f"bot process peak resident memory: {int(hwm.split()[1]) / 1024:.0f} MB")
    finally:
        proc.terminate()
        await proc.wait()
        await standin.stop()
        log.close()
    text = log_path.read_text(errors="replace")
    blocked, behind = text.count("heartbeat blocked"), text.count("Can't keep up")
    print(f"gateway warnings in the bot's log: {blocked} heartbeat blocked, {behind} can't keep up")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=48)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="newsbot-load-")) / "data"
    engine = Engine.from_settings(IndexSettings(data_dir=data))
    engine.add_source(str(ROOT / "demo" / "articles.jsonl"), "demo")
    sputnik = ROOT.parent / "shared" / "data" / "idlib_talks_sputnik.txt"
    if sputnik.exists():
        engine.add_source(str(sputnik), "sputnik")
    engine.close()
    asyncio.run(run(data, args.questions, args.concurrency))


if __name__ == "__main__":
    main()
