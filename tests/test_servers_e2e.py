"""Many servers, one bot, end to end: the real discord.py client in two guilds of the Discord
stand-in, the real model, a feed served on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from bot.settings import BotSettings
from tests.conftest import bot_online, copy_demo, make_engine
from tests.discord_standin import DiscordStandIn

pytestmark = pytest.mark.slow

LEDGER = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Lanternfield Ledger</title>
<link>https://ledger.example/</link><description>Lanternfield's local news</description>
<item><title>Lanternfield library opens a night reading room</title>
<link>https://ledger.example/2020/03/library-night-room</link>
<pubDate>Sun, 01 Mar 2020 09:00:00 GMT</pubDate>
<description>The Lanternfield public library opened a night reading room on Sunday. The room
stays open until 2 a.m. on weekdays, the head librarian, Maren Holt, said. The town council
paid 85,000 pounds for new lighting and heating in the old reading hall.</description></item>
</channel></rss>
"""
QUESTION = "What did the Lanternfield public library open on Sunday?"


@pytest.fixture
async def two(tmp_path, model, demo_index, web):
    standin = DiscordStandIn(guilds=2)
    await standin.start()
    engine = make_engine(copy_demo(demo_index, tmp_path / "data"), model,  # demo: global
                         allow_private=True)
    (tmp_path / "ledger.xml").write_text(LEDGER)
    settings = BotSettings(discord_api_base=standin.api_base,
                           discord_gateway_url=standin.gateway_url, refresh_minutes=0,
                           admin_role_ids="", discord_token=None)
    a, b = list(standin.guild_channels)
    try:
        async with bot_online(standin, engine, settings, "test-token-servers") as bot:
            yield standin, bot, a, b, f"{web}/ledger.xml"
    finally:
        await standin.stop()
        engine.close()


async def _reply(standin, name, options=None, *, user="regular", guild, predicate=None):
    it = await standin.send_interaction(name, options, user=user, guild_id=guild)
    pred = predicate or (lambda r: r.get("embeds") or (r.get("content") or "").strip(" …"))
    return await it.wait_for(
        lambda r: (r["kind"] != "interaction_response" or r.get("content")) and pred(r), 60)


def _text(rec):
    return (rec.get("content") or "") + " ".join(e.get("description", "") + " ".join(
        f["name"] + f["value"] for f in e.get("fields", [])) for e in rec.get("embeds", []))


async def test_a_servers_sources_are_its_own(two):
    standin, _bot, a, b, feed = two
    added = await _reply(standin, "source add", {"url_or_feed": feed, "name": "ledger"},
                         user="admin", guild=a,
                         predicate=lambda r: (r.get("content") or "").startswith("Added."))
    assert "**ledger**: 1 articles, 1 new" in added["content"]
    answer = await _reply(standin, "ask", {"question": QUESTION}, guild=a)
    assert "night reading room" in _text(answer) and "Lanternfield Ledger" in _text(answer)
    # server B does not see A's source: it abstains rather than quote anything
    other = await _reply(standin, "ask", {"question": QUESTION}, guild=b)
    assert _text(other).startswith("No indexed article")
    assert "reading room" not in _text(other) and "Ledger" not in _text(other)
    # the global sources answer in both
    for guild in (a, b):
        rec = await _reply(standin, "ask", {"question": "What budget did Brackenford approve "
                                                        "for public wifi?"}, guild=guild)
        assert "Brackenford" in _text(rec) and not _text(rec).startswith("No indexed")
    # /sources: A sees its own and the global one; B never sees A's names
    listed_a = _text(await _reply(standin, "sources", guild=a))
    listed_b = _text(await _reply(standin, "sources", guild=b))
    assert "ledger" in listed_a and "demo" in listed_a
    assert "ledger" not in listed_b and "demo" in listed_b
    # B's admin can neither remove nor reindex A's source
    for name, opts in (("source remove", {"name": "ledger"}), ("reindex", {"name": "ledger"})):
        rec = await _reply(standin, name, opts, user="admin", guild=b,
                           predicate=lambda r: "no source named" in (r.get("content") or ""))
        assert rec["ephemeral"]
    rec = await _reply(standin, "reindex", user="admin", guild=b,
                       predicate=lambda r: "Reindex finished" in (r.get("content") or ""))
    assert "no sources of its own" in rec["content"] and "ledger" not in rec["content"]
    # nor change a global source; and a plain member of A is refused
    rec = await _reply(standin, "source remove", {"name": "demo"}, user="admin", guild=b,
                       predicate=lambda r: "operator" in (r.get("content") or ""))
    rec = await _reply(standin, "source remove", {"name": "ledger"}, user="regular", guild=a,
                       predicate=lambda r: "Only admins" in (r.get("content") or ""))
    assert "Lanternfield Ledger" in _text(await _reply(standin, "ask", {"question": QUESTION},
                                                       guild=a))


async def test_each_servers_digest_goes_to_its_own_channel_at_its_own_hour(two):
    standin, bot, a, b, feed = two
    await _reply(standin, "source add", {"url_or_feed": feed, "name": "ledger"}, user="admin",
                 guild=a, predicate=lambda r: (r.get("content") or "").startswith("Added."))
    for guild, hour in ((a, 7), (b, 9)):
        rec = await _reply(standin, "settings", {"digest_channel": standin.guild_channels[guild],
                                                 "digest_hour": hour}, user="admin", guild=guild,
                           predicate=lambda r: "Settings saved" in (r.get("content") or ""))
        assert f"<#{standin.guild_channels[guild]}> at {hour:02d}:00 UTC" in rec["content"]
    rec = await _reply(standin, "settings", {"digest_hour": 3}, user="regular", guild=a,
                       predicate=lambda r: "Only admins" in (r.get("content") or ""))
    cog = bot.get_cog("Admin")
    since = len(standin.sent)
    await cog.post_digests(7)
    digests = [r for r in standin.sent[since:] if r["content"] == "Today's digest"]
    assert {r["channel_id"] for r in digests} == {standin.guild_channels[a]}
    assert "Lanternfield" in " ".join(_text(r) for r in digests)  # A's own news is in A's
    since = len(standin.sent)
    await cog.post_digests(9)
    digests = [r for r in standin.sent[since:] if r["content"] == "Today's digest"]
    assert {r["channel_id"] for r in digests} == {standin.guild_channels[b]}
    assert "Lanternfield" not in " ".join(_text(r) for r in digests)
    assert "Brackenford" in " ".join(_text(r) for r in digests)  # global news is


async def test_mentions_off_in_one_server_only_and_leaving_is_remembered(two):
    standin, bot, a, b, _ = two
    await _reply(standin, "settings", {"mentions": False}, user="admin", guild=b,
                 predicate=lambda r: "Settings saved" in (r.get("content") or ""))
    since = len(standin.sent)
    await standin.send_message("what budget did Brackenford approve for wifi?",
                               channel_id=standin.guild_channels[b], mentions_bot=True)
    await standin.send_message("what budget did Brackenford approve for wifi?",
                               channel_id=standin.guild_channels[a], mentions_bot=True)
    answered = await standin.wait_for(lambda r: r.get("embeds"), since=since, timeout=60)
    await asyncio.sleep(1.0)
    channels = {r["channel_id"] for r in standin.sent[since:] if r.get("embeds")}
    assert standin.guild_channels[b] not in channels and answered
    await standin.remove_guild(b)
    for _ in range(50):
        left = await asyncio.to_thread(bot.engine.store.servers_left_before, 1e12)
        if left:
            break
        await asyncio.sleep(0.1)
    assert left == [str(b)]
