"""/latest, /timeline, /search and /sources: reading the news rather than being answered."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import FILTER_HELP, DateOption, NewsBot, SourceOption, question_cooldown
from bot.render import (
    NO_PINGS,
    batches,
    latest_embeds,
    search_embeds,
    sources_embed,
    timeline_embeds,
)
from index.models import Filters


class News(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="latest")
    @app_commands.describe(topic="Only articles about this (optional)",
                           count="How many articles (1-10)")
    async def latest(self, interaction: discord.Interaction,
                     topic: app_commands.Range[str, 1, 200] | None = None,
                     count: app_commands.Range[int, 1, 10] = 5) -> None:
        """The latest articles, each with a short summary and its link."""
        await interaction.response.defer(thinking=True)
        items = await self.bot.run_engine(self.bot.engine.latest, topic, count,
                                          filters=self.bot.scope(interaction.guild_id))
        for group in batches(latest_embeds(items, topic)):
            await interaction.followup.send(embeds=group, allowed_mentions=NO_PINGS)

    @app_commands.command(name="timeline")
    @app_commands.describe(topic="What the timeline is about",
                           count="How many reports (1-20)")
    @question_cooldown()
    async def timeline(self, interaction: discord.Interaction,
                       topic: app_commands.Range[str, 1, 200],
                       count: app_commands.Range[int, 1, 20] = 10) -> None:
        """A topic's reports in date order, each by its key sentence, quoted and cited."""
        await interaction.response.defer(thinking=True)
        result = await self.bot.run_engine(self.bot.engine.timeline, topic, count,
                                           filters=self.bot.scope(interaction.guild_id))
        for group in batches(timeline_embeds(result)):
            await interaction.followup.send(embeds=group, allowed_mentions=NO_PINGS)

    @app_commands.command(name="search")
    @app_commands.describe(query="Words or a question to look for", **FILTER_HELP)
    @question_cooldown()
    async def search(self, interaction: discord.Interaction,
                     query: app_commands.Range[str, 1, 300],
                     since: DateOption | None = None, until: DateOption | None = None,
                     source: SourceOption | None = None, as_of: DateOption | None = None) -> None:
        """The articles that best match, to read for yourself."""
        filters = Filters.parse(since, until, [source] if source else None, as_of,
                                server=interaction.guild_id)
        await interaction.response.defer(thinking=True)
        hits = await self.bot.run_engine(self.bot.engine.search, query, 8, filters=filters)
        for group in batches(search_embeds(query, hits[:5])):
            await interaction.followup.send(embeds=group, allowed_mentions=NO_PINGS)

    @app_commands.command(name="sources")
    async def sources(self, interaction: discord.Interaction) -> None:
        """The news sources this server sees (everyone's and its own), with article counts."""
        await interaction.response.defer(thinking=True)
        server = str(interaction.guild_id) if interaction.guild_id else None
        items = await self.bot.run_engine(lambda: self.bot.engine.list_sources(server=server))
        await interaction.followup.send(embed=sources_embed(items), allowed_mentions=NO_PINGS)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(News(bot))
