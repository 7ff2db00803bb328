"""/ask, and questions asked by mentioning the bot, replying to it, or following up in its threads."""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import FILTER_HELP, DateOption, NewsBot, SourceOption, question_cooldown
from bot.render import NO_PINGS, answer_embeds, batches, shorten
from index.errors import IndexUnavailable
from index.models import Filters
from index.text import key_names

log = logging.getLogger(__name__)
THREAD_NAME_LIMIT = 100

_NEXT = re.compile(r"\b(next|then|after that|afterwards|since then|later|now)\b", re.I)


@dataclass
class Turn:
    question: str
    newest: datetime | None  # when the story the answer quoted first was published


def follow_up(turns: list[Turn], question: str) -> tuple[str | None, datetime | None]:
    """The context a follow-up ("and what did Turkey do next?") is searched with: the names of
    the thread's earlier questions, and, when it asks what came next, the date after which to
    look."""
    names = [n for t in turns for n in key_names(t.question)]
    extra = [n for n in dict.fromkeys(names) if n.lower() not in question.lower()]
    after = None
    if _NEXT.search(question):
        dates = [t.newest for t in turns if t.newest]
        after = max(dates) + timedelta(hours=12) if dates else None
    return (" ".join(extra) or None), after


class Ask(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="ask")
    @app_commands.describe(question="What do you want to know about the news?", **FILTER_HELP)
    @question_cooldown()
    async def ask(self, interaction: discord.Interaction,
                  question: app_commands.Range[str, 1, 300],
                  since: DateOption | None = None, until: DateOption | None = None,
                  source: SourceOption | None = None, as_of: DateOption | None = None) -> None:
        """Ask a question; the answer quotes the news, with sources."""
        filters = Filters.parse(since, until, [source] if source else None, as_of,
                                server=interaction.guild_id)
        await interaction.response.defer(thinking=True)
        answer = await self.bot.run_engine(self.bot.engine.ask, question, filters=filters)
        for group in batches(answer_embeds(answer)):
            await interaction.followup.send(embeds=group, allowed_mentions=NO_PINGS)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.bot.user is None or message.guild is None:
            return
        channel = message.channel
        me = self.bot.user
        mentioned = me in message.mentions
        in_our_thread = isinstance(channel, discord.Thread) and (
            channel.owner_id == me.id or channel.id in self.bot.thread_questions)
        replied_to_us = (message.reference is not None and isinstance(
            message.reference.resolved, discord.Message) and message.reference.resolved.author == me)
        if not (mentioned or in_our_thread or replied_to_us):
            return
        cfg = self.bot.config(message.guild.id)
        if not cfg.mentions and not in_our_thread:
            return  # this server's admins turned questions by mention off
        if in_our_thread and not cfg.threads and not mentioned:
            return
        question = re.sub(rf"<@!?{me.id}>", "", message.content).strip()
        if not question:
            await message.reply("Ask me about the news, for example: what happened in Idlib?",
                                allowed_mentions=NO_PINGS, mention_author=False)
            return
        retry = self.bot.limiter(message.guild.id).retry_after(message.author.id)
        if retry:
            await message.reply(f"You're asking quickly: try again in {retry:.0f} seconds.",
                                allowed_mentions=NO_PINGS, mention_author=False,
                                delete_after=15)
            return
        question = question[:300]
        try:
            if in_our_thread:
                await self._answer_in_thread(channel, question)  # type: ignore[arg-type]
            elif isinstance(channel, discord.TextChannel) and not replied_to_us and cfg.threads:
                name = shorten(question, THREAD_NAME_LIMIT)
                try:
                    thread = await message.create_thread(name=name, auto_archive_duration=1440)
                except discord.HTTPException:  # no permission to open threads: answer in place
                    await self._reply(message, question)
                else:
                    self.bot.thread_questions[thread.id] = []
                    await self._answer_in_thread(thread, question)
            else:
                await self._reply(message, question)
        except IndexUnavailable as exc:
            log.warning("%s", exc)
            with contextlib.suppress(discord.HTTPException):
                await message.reply(IndexUnavailable.USER_MESSAGE, allowed_mentions=NO_PINGS,
                                    mention_author=False)
        except Exception:
            log.exception("could not answer a message in %s", channel.id)
            with contextlib.suppress(discord.HTTPException):
                await message.reply("Sorry, I couldn't answer that; the error has been logged.",
                                    allowed_mentions=NO_PINGS, mention_author=False)

    async def _reply(self, message: discord.Message, question: str) -> None:
        async with message.channel.typing():
            answer = await self.bot.run_engine(self.bot.engine.ask, question,
                                               filters=self.bot.scope(message.guild.id
                                                                      if message.guild else None))
        for i, group in enumerate(batches(answer_embeds(answer))):
            if i == 0:
                await message.reply(embeds=group, allowed_mentions=NO_PINGS, mention_author=False)
            else:
                await message.channel.send(embeds=group, allowed_mentions=NO_PINGS)

    async def _answer_in_thread(self, thread: discord.Thread, question: str) -> None:
        turns = self.bot.thread_questions.setdefault(thread.id, [])
        if not turns and thread.owner_id == getattr(self.bot.user, "id", None):
            turns.append(Turn(thread.name, None))  # after a restart: the thread's name
        context, after = follow_up(turns, question) if turns else (None, None)
        seen = self.bot.scope(thread.guild.id)
        async with thread.typing():
            answer = await self.bot.run_engine(self.bot.engine.ask, question, context=context,
                                               after=after, filters=seen)
        if answer.abstained and after is not None:  # nothing later: answer from the whole story
            answer = await self.bot.run_engine(self.bot.engine.ask, question, context=context,
                                               news=True, filters=seen)
        # "next" is after the story the answer is about: its first quote's article (later
        # articles quoted as confirmation would skip what came in between)
        story = answer.citations[0].published if answer.citations else None
        if not turns or turns[-1].question != question:
            turns.append(Turn(question, story))
        elif story:
            turns[-1].newest = story
        for group in batches(answer_embeds(answer)):
            await thread.send(embeds=group, allowed_mentions=NO_PINGS)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Ask(bot))
