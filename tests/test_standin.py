"""The Discord stand-in's own contract, with the real discord.py client (an AutoShardedBot, as
the bot is): interactions, a thread opened from a mention, and Discord's message limits."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord.ext import commands

from bot.gateway import point_at, restore
from tests.discord_standin import FLAG_EPHEMERAL, FLAG_LOADING, DiscordStandIn


@pytest.fixture
async def env():
    standin = await DiscordStandIn().start()
    old = point_at(standin.api_base, standin.gateway_url)
    intents = discord.Intents.default() | discord.Intents(message_content=True)
    bot = commands.AutoShardedBot(command_prefix="!", intents=intents, guild_ready_timeout=0.1)
    group = discord.app_commands.Group(name="grp", description="A group")
    bot.tree.add_command(group, guild=discord.Object(standin.guild_id))

    @group.command(name="echo", description="Echo")
    async def echo(interaction: discord.Interaction, text: str, n: int) -> None:
        if interaction.permissions.manage_guild:  # an admin gets a private answer at once
            return await interaction.response.send_message(f"{text} {n!r}", ephemeral=True)
        await interaction.response.defer()
        await interaction.followup.send(f"echo: {text}", embed=discord.Embed(title="Echo"))
        await interaction.edit_original_response(content=f"edited: {text}")

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if bot.user in message.mentions:
            await message.channel.typing()
            await (await message.create_thread(name="Answer")).send("in thread")
            await message.reply("see thread", mention_author=False)

    task = asyncio.create_task(bot.start("test-token"))
    try:
        await standin.wait_ready(timeout=10)
        yield standin, bot
    finally:
        await asyncio.gather(bot.close(), task, return_exceptions=True)
        restore(old)
        await standin.stop()


async def test_interactions_and_a_thread(env) -> None:
    standin, bot = env
    assert standin.identified_token == "test-token" and standin.identify_payloads[0]["shard"] == [0, 1]
    (synced,) = await bot.tree.sync(guild=discord.Object(standin.guild_id))
    assert await bot.tree.sync() == [] and standin.registered_command_names()["global"] == []
    assert standin.find_command("grp")["id"] == str(synced.id)

    echo = await standin.send_interaction("grp echo", {"text": "hi", "n": 5})
    await echo.wait_for(lambda r: r["kind"] == "edit", timeout=10)
    first, followup, _ = echo.records  # defer, the follow-up replaces "thinking...", edit
    assert first["callback_type"] == 5 and first["flags"] & FLAG_LOADING and echo.deferred
    assert followup["replaced_deferred"] and followup["message_id"] == echo.original_message_id
    assert echo.original["content"] == "edited: hi" and echo.original["embeds"][0]["title"] == "Echo"
    assert not echo.ephemeral and echo.acked_after < 3
    admin = await standin.send_interaction("grp echo", {"text": "hi", "n": "5"}, user="admin")
    resp = await admin.wait_response(timeout=10)
    assert resp["content"] == "hi 5" and resp["flags"] & FLAG_EPHEMERAL and admin.ephemeral

    mid = await standin.send_message("what happened?", mentions_bot=True)
    reply = await standin.wait_for(lambda r: r["reference_message_id"] == mid, timeout=10)
    assert reply["content"] == "see thread" and reply["allowed_mentions"]["replied_user"] is False
    assert standin.threads[mid]["parent_id"] == str(standin.channel_id)  # it has the message's id
    assert standin.channel_id in standin.typing
    assert next(r["content"] for r in standin.sent if r["channel_id"] == mid) == "in thread"
    standin.assert_clean()


@pytest.mark.parametrize("refused", [
    {"content": "x" * 2001}, {"content": ""}, {"embeds": [{"title": "t"}] * 11},
    {"embeds": [{"title": "t" * 257}]}, {"embeds": [{"description": "d" * 4097}]},
    {"embeds": [{"description": "d" * 4000}] * 2}, {"embeds": [{"footer": {"text": "f" * 2049}}]},
    {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
])
async def test_discord_limits_are_enforced(env, refused) -> None:
    standin, bot = env
    route = discord.http.Route("POST", "/channels/{c}/messages", c=standin.channel_id)
    at_limits = {"content": "x" * 2000, "embeds": [{"title": "t" * 256, "description": "d" * 4096}]}
    await bot.http.request(route, json=at_limits)
    with pytest.raises(discord.HTTPException) as exc:
        await bot.http.request(route, json=refused)
    assert exc.value.status == 400 and exc.value.code in (50035, 50006)
    assert len(standin.rejected) == 1 and [r["content"] for r in standin.sent] == ["x" * 2000]
