"""The cogs in isolation: spec'd Discord fakes and a fake engine, no socket (the stand-in tests
in test_bot_e2e.py cover the wire)."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.client import COGS, NewsBot, QuestionLimiter
from bot.cogs.ask import Turn, follow_up
from bot.render import NO_PINGS, answer_embeds, batches, pack, shorten
from bot.settings import BotSettings
from index.errors import NewsbotError
from index.models import Abstention, Answer, Citation, Filters, Quote

CITATION = Citation(1, "a1", "Storm Ciara grounds flights", "Northline Courier",
                    "https://news.example/a1", datetime(2020, 2, 9, tzinfo=UTC))
QUOTE = "Schiphol cancelled about 240 flights on Sunday."


class FakeEngine:
    """Records what the cogs ask for and answers from a script."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or Answer("q", [Quote(QUOTE, 1, "a1", 0, len(QUOTE), 0.9)],
                                       [CITATION])
        self.calls: list[tuple[str, tuple[object, ...], dict[str, object]]] = []

    def ask(self, question: str, **kw: object) -> Answer:
        self.calls.append(("ask", (question,), kw))
        return self.answer

    def search(self, query: str, k: int = 10, **kw: object) -> list[object]:
        self.calls.append(("search", (query, k), kw))
        return []


def _bot(engine: FakeEngine) -> NewsBot:
    settings = BotSettings(refresh_minutes=0, ask_cooldown_uses=2, ask_cooldown_seconds=60,
                           discord_token=None)
    return NewsBot(engine, settings)  # type: ignore[arg-type]


GUILD = 4242


def _interaction() -> MagicMock:
    it = MagicMock(spec=discord.Interaction)
    it.response = MagicMock(spec=discord.InteractionResponse)
    it.response.defer = AsyncMock()
    it.followup = MagicMock(spec=discord.Webhook)
    it.followup.send = AsyncMock()
    it.guild_id = GUILD
    return it


@pytest.fixture
async def bot():
    engine = FakeEngine()
    b = _bot(engine)
    for name in COGS:
        await b.load_extension(name)
    yield b
    for name in COGS:  # never logged in: nothing else to close
        await b.unload_extension(name)


async def test_every_extension_loads_and_command_names_do_not_clash(bot):
    names = [c.qualified_name for c in bot.tree.walk_commands()]
    assert len(names) == len(set(names))
    assert {"ask", "latest", "search", "sources", "source add", "source remove",
            "reindex", "settings"} <= set(names)


async def test_ask_defers_then_sends_quotes_without_pings(bot):
    it = _interaction()
    cog = bot.get_cog("Ask")
    await cog.ask.callback(cog, it, "How many flights did Schiphol cancel?")
    it.response.defer.assert_awaited_once()
    [(name, args, kw)] = bot.engine.calls
    assert (name, args, kw) == ("ask", ("How many flights did Schiphol cancel?",),
                                {"filters": Filters(server=str(GUILD))})
    sent = it.followup.send.await_args.kwargs
    assert sent["allowed_mentions"] is NO_PINGS
    desc = sent["embeds"][0].description
    assert "> Schiphol cancelled about 240 flights on Sunday. **[1]**" in desc
    assert "Northline Courier, 9 Feb 2020" in desc


async def test_ask_passes_its_filters(bot):
    it = _interaction()
    cog = bot.get_cog("Ask")
    await cog.ask.callback(cog, it, "What happened?", since="2020-02-01", until="9 Feb 2020",
                           source="courier", as_of="2020-02-20")
    filters = bot.engine.calls[0][2]["filters"]
    assert filters == Filters(since=datetime(2020, 2, 1, tzinfo=UTC),
                              until=datetime(2020, 2, 10, tzinfo=UTC), sources=("courier",),
                              as_of=datetime(2020, 2, 20, tzinfo=UTC), server=str(GUILD))


async def test_a_bad_date_is_refused_before_the_defer(bot):
    it = _interaction()
    cog = bot.get_cog("Ask")
    with pytest.raises(NewsbotError, match="since: 'soonish' is not a date"):
        await cog.ask.callback(cog, it, "What happened?", since="soonish")
    it.response.defer.assert_not_awaited()
    assert bot.engine.calls == []


async def test_search_passes_its_filters(bot):
    it = _interaction()
    cog = bot.get_cog("News")
    await cog.search.callback(cog, it, "storm", source="courier")
    assert bot.engine.calls == [("search", ("storm", 8), {"filters": Filters(sources=("courier",),
                                                                  server=str(GUILD))})]


def test_an_abstention_is_worded_for_discord():
    empty = Answer("q", abstention=Abstention("empty_index"))
    [e] = answer_embeds(empty)
    assert e.description == "Nothing is indexed yet: an admin can add a source with /source add."
    missing = Answer("q", abstention=Abstention(
        "unknown_names", names=["Lufthansa"], articles=8,
        first=datetime(2020, 2, 3, tzinfo=UTC), last=datetime(2020, 2, 20, tzinfo=UTC)))
    [e] = answer_embeds(missing)
    assert e.description == ("No indexed article mentions “Lufthansa”; 8 articles from "
                             "3 Feb 2020 to 20 Feb 2020 are indexed.")


def test_the_phrasing_comes_before_the_quotes():
    a = FakeEngine().answer
    a.phrasing = "About 240 flights were cancelled [1]."
    desc = answer_embeds(a)[0].description
    assert desc.index("About 240 flights") < desc.index("> Schiphol")


def test_pack_keeps_blocks_whole_and_cuts_only_an_oversized_one():
    assert pack(["aaa", "bbb", "ccc"], 7) == ["aaa\nbbb", "ccc"]
    [page] = pack(["word " * 10], 20)
    assert len(page) <= 20 and page.endswith(" …")


def test_batches_respect_discords_message_limits():
    embeds = [discord.Embed(description="x" * 1100) for _ in range(13)]
    groups = batches(embeds)
    assert [len(g) for g in groups] == [5, 5, 3]
    assert all(sum(len(e) for e in g) <= 6000 for g in groups)
    assert len(batches([discord.Embed(description="y") for _ in range(12)])[0]) == 10


def test_shorten():
    assert shorten("a  b\nc", 10) == "a b c"
    assert shorten("x" * 300, 256) == "x" * 255 + "…"


def test_follow_ups_carry_the_threads_names_and_ask_for_what_came_next():
    turns = [Turn("What happened at the Idlib talks in Ankara?", datetime(2020, 2, 8, tzinfo=UTC))]
    context, after = follow_up(turns, "and what did Turkey do next?")
    assert context == "Idlib Ankara"
    assert after == datetime(2020, 2, 8, 12, tzinfo=UTC)
    context, after = follow_up(turns, "who led the Ankara delegation?")
    assert context == "Idlib" and after is None


def test_the_question_budget_is_per_user():
    limiter = QuestionLimiter(uses=2, per=60)
    assert limiter.retry_after(1) == 0 and limiter.retry_after(1) == 0
    wait = limiter.retry_after(1)
    assert 0 < wait <= 60
    assert limiter.retry_after(2) == 0


async def test_a_configured_gateway_is_used_and_a_silent_proxy_means_one_shard():
    from bot.gateway import point_at, restore, use_gateway

    http = MagicMock(spec=discord.http.HTTPClient)
    http.get_bot_gateway = AsyncMock(return_value=(4, "wss://gateway.discord.gg", {"total": 9}))
    use_gateway(http, "ws://127.0.0.1:9/gw")
    assert await http.get_bot_gateway() == (4, "ws://127.0.0.1:9/gw", {"total": 9})
    silent = MagicMock(spec=discord.http.HTTPClient)
    silent.get_bot_gateway = AsyncMock(side_effect=discord.GatewayNotFound())
    use_gateway(silent, "ws://127.0.0.1:9/gw")
    shards, url, _ = await silent.get_bot_gateway()
    assert (shards, url) == (1, "ws://127.0.0.1:9/gw")
    old = point_at("http://127.0.0.1:9/api/v10/", None)
    try:
        assert discord.http.Route.BASE == "http://127.0.0.1:9/api/v10"
    finally:
        restore(old)
    assert old[0] == discord.http.Route.BASE


def test_invisible_controls_never_reach_what_is_shown():
    from index.wording import answer_text

    rlo = "Harbour\u202e retsam\u200b named"
    a = Answer("q", [Quote(f"The {rlo} on Monday.", 1, "a1", 0, 10, 0.9)],
               [Citation(1, "a1", f"Title {rlo}", "Gazette\u2066", None, None)])
    shown = [answer_embeds(a)[0].description, answer_text(a, "")]
    for text in shown:
        assert not any(ch in text for ch in "\u202e\u200b\u2066"), repr(text)
        assert "Harbour retsam named" in text
    assert "\u202e" in a.quotes[0].text  # the quote itself still matches the stored text
