"""Admin commands (/source add, /source remove, /reindex), acting on the invoking server's own
sources only; the scheduled feed refresh; each server's daily digest; forgetting servers the
bot left."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import logging
import time

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.client import NewsBot, admin_only, send_ephemeral
from bot.render import NO_PINGS, batches, latest_embeds
from index.engine import IndexReport
from index.errors import IndexUnavailable, NewsbotError
from index.models import Filters
from index.sources import is_url

log = logging.getLogger(__name__)
PROGRESS_EVERY_SECONDS = 1.0


def report_line(r: IndexReport) -> str:
    if r.error:
        return f"**{r.source}**: failed: {r.error}"
    line = f"**{r.source}**: {r.counts()}"  # not what was embedded: that tells what others hold
    if r.problems:
        line += f"\n⚠ {r.problems[0][:300]}"
    return line


class _AdminReply:
    """Where long admin work reports: the interaction's reply while its token lives (Discord:
    15 minutes), then one channel message, edited as the work goes on."""

    def __init__(self, interaction: discord.Interaction, reply_seconds: float) -> None:
        self.interaction = interaction
        self.deadline = time.monotonic() + reply_seconds
        self.message: discord.Message | None = None

    async def show(self, text: str) -> None:
        if self.message is None and time.monotonic() < self.deadline:
            try:
                await self.interaction.edit_original_response(content=text,
                                                              allowed_mentions=NO_PINGS)
                return
            except discord.HTTPException as exc:
                log.info("the interaction reply is gone (%s); reporting in the channel", exc)
        if self.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.message.edit(content=text, allowed_mentions=NO_PINGS)
                return
        channel = self.interaction.channel
        if isinstance(channel, discord.abc.Messageable):
            self.message = await channel.send(content=text, allowed_mentions=NO_PINGS)


class _LiveProgress:
    """Shows indexing progress, at most once a second, from the engine's worker thread."""

    def __init__(self, reply: _AdminReply, verb: str) -> None:
        self.reply = reply
        self.verb = verb
        self.loop = asyncio.get_running_loop()
        self.last = 0.0
        self.pending: concurrent.futures.Future[None] | None = None

    def __call__(self, done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if total == 0 or (now - self.last < PROGRESS_EVERY_SECONDS and done < total):
            return
        if self.pending is not None and not self.pending.done():
            return
        self.last = now
        text = f"{self.verb} **{what}**: {done}/{total} passages embedded…"
        self.pending = asyncio.run_coroutine_threadsafe(self._show(text), self.loop)

    async def _show(self, text: str) -> None:
        try:
            await self.reply.show(text)
        except discord.HTTPException:
            log.warning("could not show progress")

    async def settled(self) -> None:
        if self.pending is not None:
            await asyncio.wrap_future(self.pending)


def _server(interaction: discord.Interaction) -> str:
    assert interaction.guild_id is not None  # the admin commands are guild-only
    return str(interaction.guild_id)


class Admin(commands.Cog):
    source = app_commands.Group(name="source", guild_only=True,
                                description="Add or remove this server's news sources (admins)")

    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.bot.settings.refresh_minutes > 0:
            self.refresh_feeds.change_interval(minutes=self.bot.settings.refresh_minutes)
            self.refresh_feeds.start()
        self.hourly.start()

    async def cog_unload(self) -> None:
        self.refresh_feeds.cancel()
        self.hourly.cancel()

    @source.command(name="add")
    @app_commands.describe(url_or_feed="A feed or web page URL", name="A short name for it")
    @admin_only()
    async def source_add(self, interaction: discord.Interaction,
                         url_or_feed: app_commands.Range[str, 1, 500],
                         name: app_commands.Range[str, 1, 60]) -> None:
        """Add a feed or web page and index it."""
        if not is_url(url_or_feed.strip()):
            # files on the bot's machine are for the command line, not for Discord users
            await send_ephemeral(interaction, "Give a feed or web page URL (http or https).")
            return
        await interaction.response.defer(thinking=True)
        reply = _AdminReply(interaction, self.bot.settings.interaction_reply_seconds)
        progress = _LiveProgress(reply, "Indexing")
        try:
            report = await self.bot.run_engine(
                lambda: self.bot.engine.add_source(url_or_feed, name, progress,
                                                   server=_server(interaction)))
        except NewsbotError as exc:
            # the admin asked for this source; what went wrong is the result, kept in /sources
            await progress.settled()
            await reply.show(f"Could not add it: {exc}")
            return
        await progress.settled()
        verb = "Added." if report.source == name else f"Already indexed as {report.source}; refreshed."
        await reply.show(f"{verb} {report_line(report)}")

    @source.command(name="remove")
    @app_commands.describe(name="The source's name, as /sources shows it")
    @admin_only()
    async def source_remove(self, interaction: discord.Interaction,
                            name: app_commands.Range[str, 1, 60]) -> None:
        """Remove a source and its articles."""
        await interaction.response.defer(thinking=True)
        n = await self.bot.run_engine(
            lambda: self.bot.engine.remove_source(name, server=_server(interaction)))
        await interaction.followup.send(f"Removed **{discord.utils.escape_markdown(name)}** "
                                        f"({n} passages).", allowed_mentions=NO_PINGS)

    @app_commands.command(name="reindex")
    @app_commands.describe(name="One of this server's sources (all of them when left out)")
    @app_commands.guild_only()
    @admin_only()
    async def reindex(self, interaction: discord.Interaction,
                      name: app_commands.Range[str, 1, 60] | None = None) -> None:
        """Re-read one of this server's sources, or all of them, now."""
        await interaction.response.defer(thinking=True)
        what = discord.utils.escape_markdown(name) if name else "this server's sources"
        reply = _AdminReply(interaction, self.bot.settings.interaction_reply_seconds)
        await reply.show(f"Reindexing {what}…")
        progress = _LiveProgress(reply, "Reindexing")
        reports = await self.bot.run_engine(
            lambda: self.bot.engine.refresh(name, progress, server=_server(interaction)))
        await progress.settled()
        lines = [report_line(r) for r in reports] or [
            "This server has no sources of its own to reindex (the global ones are refreshed "
            "by the operator)."]
        text = "Reindex finished.\n" + "\n".join(lines)
        await reply.show(text[:2000])

    @tasks.loop(minutes=60)
    async def refresh_feeds(self) -> None:
        """Every scope's feeds and pages, each location read once; a server has at most
        NEWSBOT_SERVER_FETCH_LIMIT of its sources read per run. Once per deployment: of several
        bot processes sharing the index, the first whose turn comes runs it."""
        every = self.bot.settings.refresh_minutes * 60
        try:
            reports = await self.bot.run_engine(self.bot.engine.scheduled_refresh, every)
        except IndexUnavailable as exc:
            log.warning("the scheduled refresh waits for the next run: %s", exc)
            return
        except Exception:
            log.exception("the scheduled refresh failed")
            return
        if reports is None:
            log.info("scheduled refresh: another bot process of this deployment ran it")
            return
        for r in reports:
            log.info("scheduled refresh: %s", report_line(r))

    @refresh_feeds.before_loop
    async def _before_refresh(self) -> None:
        await self.bot.wait_until_ready()

    @tasks.loop(time=[dt.time(hour=h, tzinfo=dt.UTC) for h in range(24)])
    async def hourly(self) -> None:
        await self.post_digests(dt.datetime.now(dt.UTC).hour)
        try:
            grace = self.bot.settings.server_grace_days * 86_400
            gone = await self.bot.run_engine(self.bot.engine.forget_servers, grace)
            for server in gone:
                self.bot.guild_configs.pop(int(server), None)
                log.info("forgot server %s (left more than %s days ago)", server,
                         self.bot.settings.server_grace_days)
        except Exception:
            log.exception("forgetting servers the bot left failed")

    async def post_digests(self, hour: int) -> None:
        """Each server whose digest hour this is gets its own latest news in its own channel."""
        for guild in self.bot.guilds:
            cfg = self.bot.config(guild.id)
            if not cfg.digest_channel_id or cfg.digest_hour_utc != hour:
                continue
            channel = guild.get_channel(cfg.digest_channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                log.warning("digest channel %s not found in server %s", cfg.digest_channel_id,
                            guild.id)
                continue
            try:
                items = await self.bot.run_engine(
                    self.bot.engine.latest, None, 5, filters=Filters(server=str(guild.id)))
                for group in batches(latest_embeds(items, None)):
                    await channel.send(content="Today's digest", embeds=group,
                                       allowed_mentions=NO_PINGS)
            except Exception:  # the loop must survive to post tomorrow, and for other servers
                log.exception("the daily digest of server %s failed", guild.id)

    @hourly.before_loop
    async def _before_hourly(self) -> None:
        try:
            await self.bot.wait_until_ready()
        except RuntimeError:  # a bot that never logs in (a test of its cogs) has no hours
            self.hourly.cancel()


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Admin(bot))
