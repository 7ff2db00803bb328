"""`python -m bot`: start the Discord bot (DISCORD_TOKEN required)."""

from __future__ import annotations

import asyncio
import logging

from bot.client import NewsBot
from bot.gateway import point_at
from bot.settings import BotSettings
from index.engine import Engine
from index.settings import IndexSettings

log = logging.getLogger("bot")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord.http").setLevel(logging.WARNING)


async def start(settings: BotSettings, engine: Engine) -> None:
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SystemExit("DISCORD_TOKEN is not set: put it in .env (see .env.example).")
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    bot = NewsBot(engine, settings)
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())


def main() -> None:
    configure_logging()
    settings = BotSettings()
    engine = Engine.from_settings(IndexSettings())
    try:
        asyncio.run(start(settings, engine))
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()


if __name__ == "__main__":
    main()
