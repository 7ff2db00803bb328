"""The Discord stand-in works with the real discord.py client (Bot and AutoShardedBot)."""

from __future__ import annotations

import asyncio
import contextlib

import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands

from tests.discord_standin import FLAG_EPHEMERAL, MANAGE_GUILD, DiscordStandIn

TOKEN = "test-token"


@pytest.fixture
async def standin():
    s = DiscordStandIn()
    await s.start()
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = s.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(s.gateway_url)
    try:
        yield s
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
        await s.stop()


def _intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


def _add_commands(tree: app_commands.CommandTree) -> None:
    @tree.command(name="echo", description="Echo some text")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer()
        await interaction.followup.send(f"echo: {text}", embed=discord.Embed(title="Echo", description=text))
        await interaction.edit_original_response(content=f"edited: {text}")

    grp = app_commands.Group(name="grp", description="A group")

    @grp.command(name="sub", description="A subcommand")
    async def sub(interaction: discord.Interaction, x: int) -> None:
        await interaction.response.send_message(f"x={x} ({type(x).__name__})", ephemeral=True)

    tree.add_command(grp)

    @tree.command(name="whoami", description="Who is asking")
    async def whoami(interaction: discord.Interaction) -> None:
        member = interaction.user
        assert isinstance(member, discord.Member)
        roles = sorted(r.name for r in member.roles if not r.is_default())
        await interaction.response.send_message(
            f"manage_guild={interaction.permissions.manage_guild} roles={roles} "
            f"guild={interaction.guild_id} channel={interaction.channel_id}"
        )


@contextlib.asynccontextmanager
async def running(bot: commands.Bot, standin: DiscordStandIn):
    task = asyncio.create_task(bot.start(TOKEN))
    try:
        await standin.wait_ready(timeout=10)
        yield task
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


async def test_bot_against_standin(standin: DiscordStandIn) -> None:
    seen_in_threads: list[discord.Message] = []
    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=_intents(), guild_ready_timeout=0.1)
    _add_commands(bot.tree)

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        if isinstance(message.channel, discord.Thread):
            seen_in_threads.append(message)
            await message.channel.send(f"thread got: {message.content}")
            return
        if bot.user in message.mentions:
            async with message.channel.typing():
                thread = await message.create_thread(name="Answer")
                await thread.send("answer in thread")
            await message.reply("see thread", mention_author=False)

    async with running(bot, standin):
        assert standin.identified_token == TOKEN
        assert standin.identify_payloads[0]["intents"] & (1 << 15)  # message content
        # Plain text frames: the client asked for compression in the URL, we ignore it.
        assert standin.gateway_queries[0]["encoding"] == "json"

        synced = await bot.tree.sync()
        assert {c.name for c in synced} == {"echo", "grp", "whoami"}
        assert standin.find_command("echo")["id"] == str(next(c.id for c in synced if c.name == "echo"))

        # /echo: defer, follow-up (replaces the thinking message), edit original.
        echo = await standin.send_interaction("echo", {"text": "hello"})
        edit = await echo.wait_for(lambda r: r["kind"] == "edit", timeout=10)
        kinds = [r["kind"] for r in echo.records]
        assert kinds == ["interaction_response", "followup", "edit"]
        first, followup, _ = echo.records
        assert first["callback_type"] == 5 and first["flags"] & 128  # loading
        assert followup["replaced_deferred"] and followup["message_id"] == echo.original_message_id
        assert followup["content"] == "echo: hello"
        assert followup["embeds"][0]["title"] == "Echo"
        assert followup["embeds"][0]["description"] == "hello"
        assert edit["content"] == "edited: hello"
        assert echo.original["content"] == "edited: hello"
        assert echo.original["embeds"][0]["title"] == "Echo"
        assert not echo.ephemeral
        assert echo.acked_after is not None and echo.acked_after < 3

        # /grp sub x: (subcommand), ephemeral reply.
        sub = await standin.send_interaction("grp", {"x": 5}, subcommand="sub")
        resp = await sub.wait_response(timeout=10)
        assert resp["callback_type"] == 4
        assert resp["content"] == "x=5 (int)"
        assert resp["flags"] & FLAG_EPHEMERAL and resp["ephemeral"]
        sub2 = await standin.send_interaction("grp sub", {"x": 7})
        assert (await sub2.wait_response(timeout=10))["content"] == "x=7 (int)"

        # Permissions and roles reach the bot.
        regular = await standin.send_interaction("whoami", user="regular")
        admin = await standin.send_interaction("whoami", user=standin.admin_user)
        r1 = await regular.wait_response(timeout=10)
        r2 = await admin.wait_response(timeout=10)
        assert r1["content"].startswith("manage_guild=False roles=[]")
        assert r2["content"].startswith("manage_guild=True roles=['admin']")
        assert f"guild={standin.guild_id} channel={standin.channel_id}" in r2["content"]
        assert int(admin.payload["member"]["permissions"]) & MANAGE_GUILD

        # A mention: the bot opens a thread, answers in it, replies in the channel.
        mid = await standin.send_message("what happened today?", mentions_bot=True)
        in_thread = await standin.wait_for(
            lambda r: r["kind"] == "channel_message" and r["channel_id"] in standin.threads, timeout=10
        )
        assert in_thread["content"] == "answer in thread"
        thread_id = in_thread["channel_id"]
        assert thread_id == mid  # Discord gives a message's thread the message's id
        assert standin.threads[thread_id]["parent_id"] == str(standin.channel_id)
        assert standin.threads[thread_id]["name"] == "Answer"
        reply = await standin.wait_for(lambda r: r["reference_message_id"] == mid, timeout=10)
        assert reply["content"] == "see thread" and reply["channel_id"] == standin.channel_id
        assert reply["allowed_mentions"]["replied_user"] is False
        assert standin.channel_id in standin.typing
        assert ("POST", f"/channels/{standin.channel_id}/messages/{mid}/threads") in [
            (m, p) for m, p, _ in standin.requests
        ]

        # A user writes in the thread: on_message sees a discord.Thread.
        await standin.send_message("and yesterday?", channel_id=thread_id)
        got = await standin.wait_for(
            lambda r: r["channel_id"] == thread_id and r["content"].startswith("thread got:"), timeout=10
        )
        assert got["content"] == "thread got: and yesterday?"
        assert len(seen_in_threads) == 1
        assert isinstance(seen_in_threads[0].channel, discord.Thread)
        assert seen_in_threads[0].channel.id == thread_id
        assert seen_in_threads[0].channel.parent_id == standin.channel_id

        # Discord's rules are enforced: a second callback is refused.
        with pytest.raises(discord.HTTPException) as exc:
            await bot.http.request(
                discord.http.Route(
                    "POST",
                    "/interactions/{iid}/{token}/callback",
                    iid=sub.id,
                    token=sub.token,
                ),
                json={"type": 4, "data": {"content": "again"}},
            )
        assert exc.value.code == 40060

    standin.assert_clean()
    assert bot.is_closed()


async def test_auto_sharded_bot_against_standin(standin: DiscordStandIn) -> None:
    bot = commands.AutoShardedBot(command_prefix="!", intents=_intents(), guild_ready_timeout=0.1)

    @bot.tree.command(name="ping", description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"pong from shard {interaction.guild.shard_id}")

    async with running(bot, standin):
        assert ("GET", "/gateway/bot") in [(m, p) for m, p, _ in standin.requests]
        assert standin.identify_payloads[-1]["shard"] == [0, 1]
        guild = discord.Object(standin.guild_id)
        bot.tree.copy_global_to(guild=guild)  # a guild sync only sends guild commands
        await bot.tree.sync(guild=guild)
        assert standin.find_command("ping")["guild_id"] == str(standin.guild_id)
        inter = await standin.send_interaction("ping")
        assert inter.payload["data"]["guild_id"] == str(standin.guild_id)
        resp = await inter.wait_response(timeout=10)
        assert resp["content"] == "pong from shard 0"
        await asyncio.wait_for(bot.wait_until_ready(), timeout=5)
        assert bot.get_guild(standin.guild_id) is not None

    standin.assert_clean()
