"""`make run`: index the demo corpus on first run, then start the bot if DISCORD_TOKEN is set,
or else explain that and open the terminal session with the same commands."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from rich.console import Console

from bot.__main__ import configure_logging, open_engine, start
from bot.settings import BotSettings
from index.cli import run_shell
from index.engine import Engine

DEMO = Path(__file__).resolve().parent.parent / "demo"


def ensure_demo(engine: Engine, console: Console) -> None:
    if engine.list_sources():
        return
    console.print("First run: indexing the demo corpus (demo/articles.jsonl, demo/feed.xml)…")
    for name, path in (("demo", DEMO / "articles.jsonl"), ("demo-feed", DEMO / "feed.xml")):
        report = engine.add_source(str(path), name)
        console.print(f"  {name}: {report.articles} articles, {report.embedded} passages")


def main() -> None:
    console = Console(highlight=False)
    settings = BotSettings()
    engine = open_engine()
    try:
        ensure_demo(engine, console)
        token = settings.discord_token.get_secret_value().strip() if settings.discord_token else ""
        if token:
            configure_logging()
            asyncio.run(start(settings, engine))
            return
        console.print(
            "DISCORD_TOKEN is not set, so the bot is not going online. Put the token of your "
            "Discord application in .env (see .env.example and the README) and run `make run` "
            "again.\nMeanwhile, here is the same newsbot in your terminal."
        )
        logging.basicConfig(level=logging.WARNING)
        run_shell(engine, sys.stdin, console)
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()


if __name__ == "__main__":
    main()
