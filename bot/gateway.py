"""Where the bot finds Discord: discord.com by default, or a REST proxy and gateway URL given in
the settings (`DISCORD_API_BASE`, `DISCORD_GATEWAY_URL`) — a proxy in production, the local
stand-in in the tests. The only place that reaches into discord.py's internals."""

from __future__ import annotations

import functools
import logging
from typing import Any

import discord
import yarl

log = logging.getLogger(__name__)


def point_at(api_base: str | None, gateway_url: str | None) -> tuple[str, yarl.URL]:
    """Send REST and gateway traffic elsewhere; returns what was there, to restore it."""
    old = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    return old


def restore(old: tuple[str, yarl.URL]) -> None:
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old


def use_gateway(http: discord.http.HTTPClient, url: str) -> None:
    """AutoShardedBot asks GET /gateway/bot for the shard count and URL; a configured URL takes
    precedence, and a proxy that does not answer that route means one shard."""
    original = http.get_bot_gateway

    @functools.wraps(original)
    async def get_bot_gateway(*args: Any, **kwargs: Any) -> tuple[int, str, Any]:
        try:
            shards, _, limits = await original(*args, **kwargs)
        except discord.GatewayNotFound:
            log.info("GET /gateway/bot not answered at %s; running one shard",
                     discord.http.Route.BASE)
            return 1, url, {"total": 1000, "remaining": 1000, "reset_after": 0,
                            "max_concurrency": 1}
        return shards, url, limits

    http.get_bot_gateway = get_bot_gateway  # type: ignore[method-assign]
