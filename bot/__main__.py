"""`python -m bot`: start the Discord bot (DISCORD_TOKEN required)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord

from bot.client import NewsBot
from bot.gateway import point_at
from bot.settings import BotSettings
from index import metrics
from index.engine import Engine
from index.errors import NewsbotError
from index.settings import IndexSettings

log = logging.getLogger("bot")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("discord.http").setLevel(logging.WARNING)


async def start(settings: BotSettings, engine: Engine) -> None:
    """Run the bot until it is stopped. A refused token or an unreachable Discord ends it with
    one line (SystemExit), never a traceback, and never the token."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value().strip():
        raise SystemExit("DISCORD_TOKEN is not set: put it in .env (see .env.example).")
    point_at(settings.discord_api_base, settings.discord_gateway_url)
    where = settings.discord_api_base or "discord.com"
    bot = NewsBot(engine, settings)
    try:
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        raise SystemExit(f"Discord refused the token (DISCORD_TOKEN) at {where}: check it in "
                         "the developer portal.") from None
    except (aiohttp.ClientError, OSError, discord.GatewayNotFound) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise SystemExit(f"Could not reach Discord at {where}: {reason}") from None


def open_engine() -> Engine:
    """The engine from the environment, its metrics served when a port is set; a refusal (the
    index in use, a server away, a bad setting) is one line."""
    settings = IndexSettings()
    try:
        engine = Engine.from_settings(settings)
    except NewsbotError as exc:
        raise SystemExit(f"newsbot: {exc}") from None
    if settings.metrics_port:
        try:
            metrics.serve(settings.metrics_port, settings.metrics_host, engine.store)
        except OSError as exc:
            engine.close()
            raise SystemExit(f"newsbot: metrics port {settings.metrics_host}:"
                             f"{settings.metrics_port}: {exc.strerror or exc}") from None
    return engine


def main() -> None:
    configure_logging()
    settings = BotSettings()
    engine = open_engine()
    try:
        asyncio.run(start(settings, engine))
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()


if __name__ == "__main__":
    main()
