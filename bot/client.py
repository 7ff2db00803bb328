"""The Discord client: wiring, command sync, the tree-wide error handler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.gateway import use_gateway
from bot.settings import BotSettings, GuildConfig
from index.engine import Engine
from index.errors import IndexUnavailable, NewsbotError, UnknownSource
from index.models import Filters

log = logging.getLogger(__name__)
T = TypeVar("T")

COGS = ("bot.cogs.ask", "bot.cogs.news", "bot.cogs.admin", "bot.cogs.settings")

# The filters /ask and /search offer, as the CLI's --since/--until/--source/--as-of.
DateOption = app_commands.Range[str, 1, 40]
SourceOption = app_commands.Range[str, 1, 60]
FILTER_HELP = {
    "since": "Only news published on or after this date (2020-02-10, 10 Feb 2020)",
    "until": "Only news published on or before this date",
    "source": "Only news from this source (its name in /sources)",
    "as_of": "Answer as the news stood on this day ('this week' means that day's week)",
}


class NotAdmin(app_commands.CheckFailure):
    pass


class QuestionLimiter:
    """One per-user budget shared by /ask, /search and questions by mention: `uses` questions
    in any `per` seconds (discord.py's cooldown buckets, keyed by user id)."""

    def __init__(self, uses: int, per: float) -> None:
        self.uses = uses
        self.per = per
        self._mapping: commands.CooldownMapping[int] = commands.CooldownMapping(
            commands.Cooldown(uses, per), lambda user_id: user_id)

    def retry_after(self, user_id: int) -> float:
        """0 and counts the question when the user may ask now; else the seconds to wait."""
        bucket = self._mapping.get_bucket(user_id)
        return (bucket.update_rate_limit() or 0.0) if bucket is not None else 0.0


class NewsBot(commands.AutoShardedBot):
    def __init__(self, engine: Engine, settings: BotSettings, **kwargs: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # follow-up questions in threads are plain messages
        shard_kw: dict[str, Any] = {}
        if settings.shard_count:
            shard_kw["shard_count"] = settings.shard_count
        if settings.shard_ids:
            shard_kw["shard_ids"] = settings.shard_ids
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, help_command=None,
            allowed_mentions=discord.AllowedMentions.none(), **shard_kw, **kwargs,
        )
        self.engine = engine
        self.settings = settings
        # each server's settings (over the environment's defaults), loaded in setup_hook
        self.guild_configs: dict[int, GuildConfig] = {}
        self._limiters: dict[int | None, QuestionLimiter] = {}
        self._warming: asyncio.Task[None] | None = None
        # thread id -> the questions asked in it, oldest first (context for follow-ups)
        self.thread_questions: dict[int, list[Any]] = {}
        self.tree.error(self.on_app_command_error)
        if settings.discord_gateway_url:
            use_gateway(self.http, settings.discord_gateway_url)

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: questions in messages are handled by the Ask cog's listener."""

    def config(self, guild_id: int | None) -> GuildConfig:
        """A server's settings; the deployment's defaults outside servers (DMs)."""
        if guild_id is None or guild_id not in self.guild_configs:
            return GuildConfig.of(self.settings, {})
        return self.guild_configs[guild_id]

    async def set_config(self, guild_id: int, changes: dict[str, Any]) -> GuildConfig:
        stored = await self.run_engine(self.engine.update_server_settings, str(guild_id),
                                       changes)
        self.guild_configs[guild_id] = GuildConfig.of(self.settings, stored)
        self._limiters.pop(guild_id, None)
        return self.guild_configs[guild_id]

    def limiter(self, guild_id: int | None) -> QuestionLimiter:
        """The per-user question budget of one server (its cooldown setting)."""
        if guild_id not in self._limiters:
            cfg = self.config(guild_id)
            self._limiters[guild_id] = QuestionLimiter(cfg.ask_cooldown_uses,
                                                       cfg.ask_cooldown_seconds)
        return self._limiters[guild_id]

    @staticmethod
    def scope(guild_id: int | None, filters: Filters | None = None) -> Filters:
        """The filters a question from this server is answered with: what it sees."""
        base = filters or Filters()
        return dataclasses.replace(base, server=str(guild_id) if guild_id else None)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.run_engine(self.engine.server_joined, str(guild.id))

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """A server the bot is in at start-up (re-invited while it was down) is not forgotten."""
        await self.run_engine(self.engine.server_joined, str(guild.id))

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Its sources and settings stay for SERVER_GRACE_DAYS, in case the bot comes back."""
        log.info("left server %s; its sources go in %s days", guild.id,
                 self.settings.server_grace_days)
        await self.run_engine(self.engine.server_left, str(guild.id))

    async def setup_hook(self) -> None:
        # the models load in a worker thread while the gateway connects
        self._warming = asyncio.create_task(self.run_engine(self.engine.warm_up))
        self._warming.add_done_callback(_report_warm_up)
        stored = await self.run_engine(self.engine.all_server_settings)
        self.guild_configs = {int(g): GuildConfig.of(self.settings, v) for g, v in stored.items()}
        for name in COGS:
            await self.load_extension(name)
        if self.settings.dev_guild_id:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    async def run_engine(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking engine work (embedding, Chroma, SQLite) off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def is_admin(self, interaction: discord.Interaction) -> bool:
        """Manage Server, or one of the server's admin roles (in that server only)."""
        if interaction.guild_id is None:
            return False
        if interaction.permissions.manage_guild:
            return True
        roles = getattr(interaction.user, "roles", [])
        admin_roles = self.config(interaction.guild_id).admin_role_ids
        return bool(set(admin_roles) & {r.id for r in roles})

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CommandOnCooldown):
            msg = f"You're asking quickly: try again in {error.retry_after:.0f} seconds."
        elif isinstance(error, NotAdmin):
            msg = "Only admins (Manage Server or an admin role) can do that."
        elif isinstance(error, app_commands.CheckFailure):
            msg = "You can't use that command here."
        else:
            original = getattr(error, "original", error)
            if isinstance(original, UnknownSource):
                msg = f"{original} (see /sources)"
            elif isinstance(original, IndexUnavailable):
                log.warning("%s", original)  # names the server; users need not know which
                msg = IndexUnavailable.USER_MESSAGE
            elif isinstance(original, NewsbotError):
                msg = str(original)
            else:
                log.error("command %s failed", interaction.command and interaction.command.name,
                          exc_info=original)
                msg = "Something went wrong on my side; the error has been logged."
        await send_ephemeral(interaction, msg)


def _report_warm_up(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("loading the models failed; the first question will try again",
                  exc_info=task.exception())


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """One short private sentence. After a public defer the "thinking" message is removed first,
    since Discord would turn the first follow-up into that (public) message."""
    try:
        if interaction.response.is_done():
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
            await interaction.followup.send(text, ephemeral=True,
                                            allowed_mentions=discord.AllowedMentions.none())
        else:
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException:
        log.exception("could not tell the user about an error")


def question_cooldown() -> Callable[[T], T]:
    def predicate(interaction: discord.Interaction) -> bool:
        bot = interaction.client
        if not isinstance(bot, NewsBot):
            return True
        limiter = bot.limiter(interaction.guild_id)
        wait = limiter.retry_after(interaction.user.id)
        if wait:
            raise app_commands.CommandOnCooldown(
                app_commands.Cooldown(limiter.uses, limiter.per), wait)
        return True

    return app_commands.check(predicate)


def admin_only() -> Callable[[T], T]:
    def predicate(interaction: discord.Interaction) -> bool:
        bot = interaction.client
        if isinstance(bot, NewsBot) and bot.is_admin(interaction):
            return True
        raise NotAdmin()

    return app_commands.check(predicate)
