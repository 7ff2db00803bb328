"""The bot end to end: the real discord.py client against the local Discord stand-in, the real
model and an embedded Chroma."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import threading
import time

import pytest

from bot.settings import BotSettings
from index.embed import Embedder
from tests.conftest import DEMO, bot_online, copy_demo, make_engine
from tests.discord_standin import DiscordStandIn

pytestmark = pytest.mark.slow


class SlowEmbedder:
    """The real model, made slow on request, to show a reindex does not hold up questions."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.dim = model.dim
        self.name = model.name
        self.delay = 0.0
        self.slow_threads: set[int] = set()

    def encode(self, texts):
        if threading.get_ident() in self.slow_threads:
            time.sleep(self.delay)
        return self.model.encode(texts)

    def slow_down(self, engine, delay: float) -> None:
        """Make the engine's indexing (and only that) slow."""
        self.delay = delay
        index_articles = engine.index_articles

        def slow(*args, **kwargs):
            self.slow_threads.add(threading.get_ident())
            try:
                return index_articles(*args, **kwargs)
            finally:
                self.slow_threads.discard(threading.get_ident())

        engine.index_articles = slow


@pytest.fixture
async def env(tmp_path, model, demo_index, request):
    overrides = dict(getattr(request, "param", {}))
    standin = DiscordStandIn(token_ttl=overrides.pop("standin_token_ttl", 15 * 60))
    await standin.start()
    embedder = SlowEmbedder(model)
    engine = make_engine(copy_demo(demo_index, tmp_path / "data"), embedder, allow_private=True)
    values = {"refresh_minutes": 0, "ask_cooldown_uses": 3, "ask_cooldown_seconds": 60,
              "admin_role_ids": "", "discord_token": None, **overrides}
    settings = BotSettings(
        dev_guild_id=standin.guild_id,
        discord_api_base=standin.api_base, discord_gateway_url=standin.gateway_url, **values,
    )
    try:
        async with bot_online(standin, engine, settings, "test-token-e2e") as bot:
            yield standin, bot, embedder
    finally:
        await standin.stop()
        engine.close()


def _embeds(records):
    return [e for r in records for e in (r.get("embeds") or [])]


def _no_pings(record):
    am = record.get("allowed_mentions")
    assert am is not None and am.get("parse") == [] and not am.get("users") and not am.get("roles"), am


async def _final(it, predicate, timeout=60):
    return await it.wait_for(predicate, timeout=timeout)


async def test_commands_are_registered_and_token_never_logged(env, caplog):
    standin, _bot, _ = env
    names = standin.registered_command_names()
    flat = {n for v in names.values() for n in v}
    assert {"ask", "latest", "timeline", "search", "sources", "source", "reindex"} <= flat
    assert standin.identified_token == "test-token-e2e"
    assert "test-token-e2e" not in caplog.text


async def test_ask_answers_with_quotes_and_citations(env):
    standin, _, _ = env
    it = await standin.send_interaction("ask", {"question": "How many flights did Schiphol cancel during Storm Ciara?"})
    rec = await _final(it, lambda r: r.get("embeds"))
    assert it.deferred
    emb = rec["embeds"][0]
    desc = emb["description"]
    assert re.search(r"^> .*240.* \*\*\[1\]\*\*$", desc, re.M), desc
    assert "[1] [Storm Ciara forces hundreds of flight cancellations in the Netherlands](https://demo.newsbot.example/" in desc
    assert "Northline Courier, 9 Feb 2020" in desc
    _no_pings(rec)


async def test_ask_abstains_honestly(env):
    standin, _, _ = env
    it = await standin.send_interaction("ask", {"question": "Who won the 2022 FIFA World Cup?"})
    rec = await _final(it, lambda r: r.get("embeds"))
    desc = rec["embeds"][0]["description"]
    assert desc.startswith("No indexed article")
    assert "8 articles from 3 Feb 2020 to 20 Feb 2020 are indexed" in desc
    assert ">" not in desc


async def test_article_text_never_pings(env):
    standin, _, _ = env
    it = await standin.send_interaction("ask", {"question": "What did the Rovers post on social media after the Coastal Cup final?"})
    rec = await _final(it, lambda r: r.get("embeds"))
    assert "@everyone" in rec["embeds"][0]["description"]
    _no_pings(rec)
    assert all(r.get("allowed_mentions", {}).get("parse") == [] for r in it.records
               if r["kind"] != "interaction_response")


async def test_latest_search_and_sources(env):
    standin, _, _ = env
    it = await standin.send_interaction("latest", {"count": 2})
    rec = await _final(it, lambda r: r.get("embeds"))
    desc = rec["embeds"][0]["description"]
    assert desc.index("Brackenford") < desc.index("Coastal Cup")  # 20 Feb before 15 Feb
    assert "20 Feb 2020" in desc and "> " in desc
    it = await standin.send_interaction("search", {"query": "zinc battery"})
    rec = await _final(it, lambda r: r.get("embeds"))
    assert "Aldercombe researchers report longer-lasting zinc battery" in rec["embeds"][0]["description"].split("\n")[0]
    it = await standin.send_interaction("sources")
    rec = await _final(it, lambda r: r.get("embeds"))
    field = rec["embeds"][0]["fields"][0]
    assert field["name"] == "demo" and field["value"].startswith("8 articles")


async def test_timeline_and_latest_by_story(env):
    standin, _, _ = env
    it = await standin.send_interaction("timeline", {"topic": "Idlib"})
    rec = await _final(it, lambda r: r.get("embeds"))
    embed = rec["embeds"][0]
    assert embed["title"] == "Timeline: Idlib"
    desc = embed["description"]
    # the Ankara talks (8 Feb, both outlets' reports) before the observation posts (11 Feb)
    assert desc.index("8 Feb 2020") < desc.index("11 Feb 2020")
    assert desc.index("met in Ankara") < desc.index("reinforce its military observation posts")
    assert "Northline Courier" in desc and "Newsbot Demo Wire" in desc
    _no_pings(rec)
    # the two outlets' reports of the Ankara talks are one story in /latest
    it = await standin.send_interaction("latest", {"topic": "Idlib talks", "count": 5})
    rec = await _final(it, lambda r: r.get("embeds"))
    desc = rec["embeds"][0]["description"]
    assert desc.count("Idlib talks in Ankara") == 1 and "Moscow and Ankara discuss" not in desc
    assert "Also reported by: [Northline Courier](https://demo.newsbot.example/courier/" in desc


async def test_non_admin_cannot_reindex(env):
    standin, _, _ = env
    it = await standin.send_interaction("reindex", user="regular")
    rec = await _final(it, lambda r: "admins" in (r.get("content") or ""))
    assert it.ephemeral
    assert "Only admins" in rec["content"]
    it = await standin.send_interaction("source add", {"url_or_feed": "http://example.com/rss", "name": "x"}, user="regular")
    await _final(it, lambda r: "Only admins" in (r.get("content") or ""))


async def test_admin_adds_a_feed_and_reindexes_with_progress(env, tmp_path, web):
    standin, bot, embedder = env
    feed = tmp_path / "gazette.xml"
    feed.write_text((DEMO / "feed.xml").read_text())
    it = await standin.send_interaction("source add", {"url_or_feed": str(feed), "name": "local"}, user="admin")
    rec = await _final(it, lambda r: "URL" in (r.get("content") or ""))
    assert it.ephemeral and "feed or web page URL" in rec["content"]
    it = await standin.send_interaction("source add", {"url_or_feed": f"{web}/gazette.xml", "name": "gazette"}, user="admin")
    await _final(it, lambda r: (r.get("content") or "").startswith("Added."))
    assert "**gazette**: 3 articles, 3 new" in it.original["content"]
    embedder.slow_down(bot.engine, 0.5)
    bot.engine.articles_per_commit = 1
    feed.write_text((DEMO / "feed.xml").read_text().replace("</description>", " Updated.</description>"))
    it = await standin.send_interaction("reindex", {"name": "gazette"}, user="admin")
    await _final(it, lambda r: (r.get("content") or "").startswith("Reindex finished"), timeout=90)
    edits = [r["content"] for r in it.records if r["kind"] == "edit"]
    assert any(re.search(r"Reindexing \*\*gazette\*\*: \d+/\d+ passages embedded", e) for e in edits), edits
    # two items change (the third carries its full text in content:encoded)
    assert "3 articles, 0 new, 2 updated" in it.original["content"]


async def test_slow_reindex_does_not_delay_an_ask(env, tmp_path):
    standin, bot, embedder = env
    embedder.slow_down(bot.engine, 2.0)  # 2 s a batch: the reindex takes 16 s or more
    bot.engine.articles_per_commit = 1
    rows = [json.loads(line) for line in (DEMO / "articles.jsonl").read_text().splitlines()]
    for r in rows:
        r["id"] += "-v2"
        r["text"] += "\n\nThis article was updated."
    updated = tmp_path / "updated.jsonl"
    updated.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gid = str(standin.guild_id)  # the server's own source: its admins may reindex it
    await asyncio.to_thread(bot.engine.store.add_source, f"{gid}:slow", str(updated), "file",
                            gid, "slow")
    reindex = await standin.send_interaction("reindex", {"name": "slow"}, user="admin")
    await reindex.wait_for(lambda r: r["kind"] == "edit")
    started = time.monotonic()
    it = await standin.send_interaction("ask", {"question": "What budget did Brackenford approve for public wifi?"})
    await it.wait_for(lambda r: r.get("embeds"), timeout=30)
    took = time.monotonic() - started
    assert not any(r["kind"] == "edit" and (r.get("content") or "").startswith("Reindex finished")
                   for r in reindex.records), "the reindex finished first; the test proves nothing"
    assert took < 5.0, f"/ask took {took:.1f}s during a reindex"


async def test_mention_opens_a_thread_and_follow_ups_keep_context(env):
    standin, bot, _ = env
    mid = await standin.send_message("what happened at the Idlib talks in Ankara?", user="regular", mentions_bot=True)
    thread_rec = await standin.wait_for(lambda r: r.get("embeds") and r.get("channel_id") in standin.threads)
    thread_id = thread_rec["channel_id"]
    assert standin.threads[thread_id].get("parent_id") in (standin.channel_id, str(standin.channel_id))
    assert "Ankara" in thread_rec["embeds"][0]["description"]
    since = len(standin.sent)
    await standin.send_message("and what did Turkey do next?", user="regular", channel_id=thread_id)
    rec = await standin.wait_for(lambda r: r.get("embeds") and r.get("channel_id") == thread_id, since=since)
    desc = rec["embeds"][0]["description"]
    assert "Idlib" in desc and "Turkey sends more troops to Idlib observation posts" in desc
    _no_pings(rec)
    assert bot.thread_questions[thread_id][-1].question == "and what did Turkey do next?"
    assert mid


async def test_long_answers_split_without_cutting_quotes(env):
    from bot.render import answer_embeds, batches
    from index.models import Answer, Citation, Quote

    quote = "word " * 390
    answer = Answer("q", [Quote(quote.strip() + f" {i}.", 1, "a", 0, 1) for i in range(6)],
                    [Citation(1, "a", "T", "P", "https://x.example", None)])
    embeds = answer_embeds(answer)
    assert len(embeds) >= 2 and all(len(e.description) <= 4096 for e in embeds)
    for e in embeds:
        for line in e.description.split("\n"):
            if line.startswith("> "):
                assert line.endswith("**[1]**")
    assert sum(len(g) for g in batches(embeds)) == len(embeds)
    assert all(sum(len(e) for e in g) <= 6000 for g in batches(embeds))
    # and through Discord: a question whose answer is long is delivered in full
    standin, _, _ = env
    it = await standin.send_interaction("latest", {"count": 10})
    await it.wait_for(lambda r: r.get("embeds"))
    assert not standin.rejected


async def test_cooldown(env):
    standin, _, _ = env
    q = {"question": "What budget did Brackenford approve for public wifi?"}
    for _ in range(3):
        it = await standin.send_interaction("ask", q, user="regular")
        await it.wait_for(lambda r: r.get("embeds"))
    it = await standin.send_interaction("ask", q, user="regular")
    rec = await it.wait_for(lambda r: "asking quickly" in (r.get("content") or ""))
    assert it.ephemeral and "try again in" in rec["content"]
    # another user is not held up
    other = await standin.send_interaction("ask", q, user="admin")
    await other.wait_for(lambda r: r.get("embeds"))


async def test_an_error_after_the_defer_reaches_the_user_privately(env):
    standin, _, _ = env
    it = await standin.send_interaction("source remove", {"name": "nope"}, user="admin")
    rec = await it.wait_for(lambda r: "no source named" in (r.get("content") or ""))
    assert rec["flags"] & 64, "the error was posted publicly"
    assert rec["content"] == "no source named 'nope' (see /sources)"
    assert all(standin.is_deleted(m) for m in [it.original_message_id] if m)
    assert "Traceback" not in rec["content"] and "Error" not in rec["content"]


@pytest.mark.parametrize("env", [{"refresh_minutes": 0.02}], indirect=True)
async def test_feeds_are_refreshed_on_schedule(env, tmp_path, web):
    _standin, bot, _ = env
    feed = tmp_path / "gazette.xml"
    feed.write_text((DEMO / "feed.xml").read_text())
    await asyncio.to_thread(bot.engine.add_source, f"{web}/gazette.xml", "gazette")
    feed.write_text((DEMO / "feed.xml").read_text().replace(
        "1.42 million TEU.", "1.42 million TEU. The harbour master confirmed it."))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hits = await asyncio.to_thread(bot.engine.search, "harbour master confirmed", 1)
        if hits and "harbour master confirmed" in hits[0].passage.text:
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail("the scheduled refresh did not pick up the changed feed")


async def test_daily_digest_posts_the_latest(env):
    standin, bot, _ = env
    await bot.set_config(standin.guild_id, {"digest_channel_id": standin.channel_id,
                                            "digest_hour_utc": 7})
    cog = bot.get_cog("Admin")
    await cog.post_digests(6)
    await cog.post_digests(7)
    rec = await standin.wait_for(lambda r: r["kind"] == "channel_message" and r.get("embeds"))
    assert rec["content"] == "Today's digest"
    assert "Brackenford" in rec["embeds"][0]["description"]
    _no_pings(rec)


async def test_an_answer_over_2000_characters_arrives_whole(env, tmp_path):
    standin, bot, _ = env
    clauses = [
        "the harbour commission reported that the new breakwater, built over four winters "
        "with stone from the northern quarries, withstood the storm surge",
        "engineers of the port authority found that the sea wall, raised in granite blocks "
        "carried by barge from the island pits, held against waves of record height",
        "the coastal survey office concluded that the outer mole, rebuilt with concrete armour "
        "cast at the old shipyard, kept the inner basin calm through the gale"]
    # three outlets report it at length, each in its own words (not copies of one report, which
    # would confirm nothing): three long quotes, over 2,000 characters together
    articles = [
        {"id": f"long-report-{i}", "title": f"Breakwater report {i}",
         "text": f"In section {i} of its report, " + ", and ".join([clause] * 12)
                 + f", section {i} said.",
         "source": f"Harbour Gazette {i}", "published": "2020-02-19T10:00:00Z",
         "url": f"https://demo.newsbot.example/long/{i}"}
        for i, clause in enumerate(clauses, 1)]
    # this test is about delivering a long answer, not about whether the ranker finds these
    # made-up clauses answering enough: no abstention bar here
    bot.engine.config = dataclasses.replace(bot.engine.config, min_answer_score=0.0,
                                            second_quote_ratio=0.0)
    src = tmp_path / "long.jsonl"
    src.write_text("".join(json.dumps(a) + "\n" for a in articles))
    await asyncio.to_thread(bot.engine.add_source, str(src), "long")
    it = await standin.send_interaction(
        "ask", {"question": "What did the harbour commission report about the breakwater in the storm surge?"})
    await it.wait_for(lambda r: r.get("embeds"))
    await asyncio.sleep(1)
    embeds = _embeds(it.records)
    total = sum(len(e.get("description", "")) for e in embeds)
    assert total > 2000  # more than one message of plain text could hold
    assert not standin.rejected
    for e in embeds:
        assert len(e["description"]) <= 4096
        for line in e["description"].split("\n"):
            if line.startswith("> "):
                assert line.endswith("]**"), "a quote was cut"


@pytest.mark.parametrize("env", [{"interaction_reply_seconds": 1.0, "standin_token_ttl": 2.0}],
                         indirect=True)
async def test_a_reindex_outliving_its_interaction_reports_in_the_channel(env, tmp_path):
    standin, bot, embedder = env
    embedder.slow_down(bot.engine, 1.0)  # a second a batch: well past the 2 s token
    bot.engine.articles_per_commit = 1
    rows = [json.loads(line) for line in (DEMO / "articles.jsonl").read_text().splitlines()][:4]
    for r in rows:
        r["id"] += "-long"
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gid = str(standin.guild_id)
    await asyncio.to_thread(bot.engine.store.add_source, f"{gid}:long", str(path), "file", gid,
                            "long")
    it = await standin.send_interaction("reindex", {"name": "long"}, user="admin")
    rec = await standin.wait_for(
        lambda r: r["kind"] in ("channel_message", "edit") and r["interaction_id"] is None
        and (r.get("content") or "").startswith("Reindex finished"), timeout=90)
    assert "**long**: 4 articles, 4 new" in rec["content"]
    assert any(r["kind"] == "edit" and "Reindexing" in (r.get("content") or "")
               for r in it.records), "the reply was not used while the token lived"
    _no_pings(rec)
