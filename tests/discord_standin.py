"""A local stand-in for Discord (REST API v10 and gateway, on 127.0.0.1 and a free port) for
end-to-end tests: the real discord.py client (``Bot`` or ``AutoShardedBot``) logs in, syncs its
app commands, connects, caches one guild with one text channel, gets slash commands and messages
and answers them (interaction callbacks and follow-ups, channel messages, typing, threads opened
from a message). Point a client at it with ``bot.gateway.point_at(standin.api_base,
standin.gateway_url)``; ``AutoShardedBot`` gets the gateway URL from ``GET /gateway/bot``.

What the bot showed users is in ``sent`` (one dict per message sent, edited or deleted, and per
interaction callback), every REST call in ``requests``, routes the stand-in does not know in
``unknown``, handler crashes in ``errors``, messages Discord would refuse in ``rejected``.

Discord behaviour copied on purpose, because bots get it wrong: a second callback for one
interaction fails with 40060, a follow-up before any callback with 10015; after a deferral the
first follow-up replaces the "thinking..." message (same id, the ephemerality chosen at defer
time); Discord's message and embed limits and empty messages are enforced (400, 50035 / 50006);
without the MESSAGE_CONTENT intent a message that does not mention the bot arrives empty; the
bot's own visible messages come back to it as MESSAGE_CREATE/UPDATE/DELETE.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import re
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import WSMsgType, web

__all__ = ["DiscordStandIn", "FakeUser", "RecordedRequest", "SentInteraction", "StandInError"]

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
MANAGE_GUILD = 1 << 5
# add reactions, view channel, send messages, embed links, attach files, read message
# history, use application commands, create public threads, send messages in threads
EVERYONE_PERMISSIONS = sum(1 << bit for bit in (6, 10, 11, 14, 15, 16, 31, 35, 38))

INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT = 1 << 9, 1 << 15
FLAG_HAS_THREAD, FLAG_EPHEMERAL, FLAG_LOADING = 1 << 5, 1 << 6, 1 << 7  # message flags

# Application command option types the stand-in can send, and how it coerces values to them.
OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP = 1, 2
OPT_CHANNEL, OPT_ROLE = 7, 8
COERCE: dict[int, Callable[[Any], Any]] = {3: str, 4: int, 5: bool, 7: str, 8: str, 10: float}

# GATEWAY_GUILD_MEMBERS_LIMITED | GATEWAY_MESSAGE_CONTENT_LIMITED | APPLICATION_COMMAND_BADGE
APPLICATION_FLAGS = (1 << 15) | (1 << 19) | (1 << 23)

CHANNEL_TEXT, CHANNEL_PUBLIC_THREAD = 0, 11

# Embed limits: per-field maxima, and the total over title, description, field names and
# values, footer text and author name.
EMBED_LIMITS = {"title": 256, "description": 4096, "footer": 2048, "author": 256}
EMBED_TOTAL = 6000


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _json_response(data: Any, status: int = 200) -> web.Response:
    # discord.py only decodes JSON when Content-Type is exactly "application/json";
    # aiohttp's json_response would add "; charset=utf-8".
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json"})


class StandInError(Exception):
    """An API error the stand-in answers with (status, Discord error code, message)."""

    def __init__(self, status: int, code: int, message: str, errors: dict | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors


class RecordedRequest(NamedTuple):
    """One REST call: unpacks as ``method, path, json``; ``path`` has no /api/v10 prefix and
    no query string."""

    method: str
    path: str
    json: Any


@dataclass(frozen=True)
class FakeUser:
    """A guild member the tests act as."""

    id: int
    username: str
    role_ids: tuple[int, ...] = ()
    bot: bool = False

    def payload(self) -> dict[str, Any]:
        return {"id": str(self.id), "username": self.username, "discriminator": "0",
                "global_name": self.username, "avatar": None, "bot": self.bot, "public_flags": 0}

    def member_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"roles": [str(r) for r in self.role_ids], "nick": None,
                                "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False,
                                "mute": False, "flags": 0, "pending": False}
        if with_user:
            data["user"] = self.payload()
        return data


@dataclass
class SentInteraction:
    """An interaction the stand-in dispatched, and what the bot did about it."""

    standin: DiscordStandIn = field(repr=False, compare=False)
    id: int
    token: str
    name: str
    payload: dict[str, Any]
    user: FakeUser
    channel_id: int
    since: int  # index into standin.sent when dispatched
    dispatched_at: float
    callback: dict[str, Any] | None = None  # the raw callback body
    callback_type: int | None = None
    acked_after: float | None = None  # seconds between dispatch and callback
    original_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)  # the original first, then follow-ups

    @property
    def deferred(self) -> bool:
        return self.callback_type in (5, 6)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The entries of standin.sent about this interaction, in order."""
        return [r for r in self.standin.sent if r.get("interaction_id") == self.id]

    @property
    def original(self) -> dict[str, Any] | None:
        """The original response message as it stands now (after edits)."""
        return self.standin.messages.get(self.original_message_id or 0)

    @property
    def ephemeral(self) -> bool:
        if self.original is not None:
            return bool(self.original["flags"] & FLAG_EPHEMERAL)
        data = (self.callback or {}).get("data") or {}
        return bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool] | None = None,
                       timeout: float = 30.0) -> dict[str, Any]:
        """Wait for a standin.sent record of this interaction matching predicate."""

        def check(r: dict[str, Any]) -> bool:
            return r.get("interaction_id") == self.id and (predicate is None or predicate(r))

        return await self.standin.wait_for(check, timeout=timeout, since=self.since)

    async def wait_response(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the interaction callback record."""
        return await self.wait_for(lambda r: r["kind"] == "interaction_response", timeout)


class _GatewayConn:
    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.seq = 0
        self.shard: tuple[int, int] | None = None
        self.intents: int | None = None
        self.lock = asyncio.Lock()

    def owns_guild(self, guild_id: int) -> bool:
        return (self.shard is not None and not self.ws.closed
                and (guild_id >> 22) % self.shard[1] == self.shard[0])

    async def send(self, op: int, event: str | None, data: Any) -> None:
        """A frame; a DISPATCH (op 0, with an event name) takes the next sequence number."""
        async with self.lock:
            self.seq += event is not None
            seq = self.seq if event is not None else None
            await self.ws.send_str(json.dumps({"op": op, "t": event, "s": seq, "d": data}))


class DiscordStandIn:
    """A fake Discord (REST + gateway) on 127.0.0.1 for one bot in one guild or more."""

    def __init__(self, *, shard_count: int = 1, heartbeat_interval_ms: int = 41250,
                 token_ttl: float = 15 * 60, guilds: int = 1) -> None:
        """shard_count: what GET /gateway/bot recommends; token_ttl: seconds an interaction's
        token lasts (Discord: 15 minutes), after which its webhooks answer 401; guilds: how
        many guilds the bot is in (each with one text channel; `guild_id`, `channel_id` are
        the first's, `guild_channels` maps each guild to its channel). The users are members
        of every guild, the admin role (MANAGE_GUILD) too."""
        self.shard_count, self.heartbeat_interval_ms = shard_count, heartbeat_interval_ms
        self.token_ttl = token_ttl
        self._ids = itertools.count(1)
        self.api_base = self.gateway_url = ""  # set by start()

        self.application_id = self.bot_user_id = self.snowflake()  # as for any modern app
        # with several shards, guild i belongs to shard i % shard_count ((id >> 22) % count)
        self.guild_id = self.snowflake(0)
        self.everyone_role_id = self.guild_id  # @everyone has the guild's id
        self.admin_role_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.bot_user = FakeUser(self.bot_user_id, "newsbot", bot=True)
        self.users = {"regular": FakeUser(self.snowflake(), "reader"),
                      "admin": FakeUser(self.snowflake(), "editor", (self.admin_role_id,))}
        self.roles = {rid: {"id": str(rid), "name": name, "permissions": str(perms),
                            "position": pos, "color": 0, "hoist": False, "managed": False,
                            "mentionable": False, "flags": 0}
                      for rid, name, perms, pos in ((self.everyone_role_id, "@everyone",
                                                     EVERYONE_PERMISSIONS, 0),
                                                    (self.admin_role_id, "admin", MANAGE_GUILD, 1))}
        self.guild_channels = {self.guild_id: self.channel_id}
        for i in range(1, guilds):
            self.guild_channels[self.snowflake(i)] = self.snowflake()
        for gid in self.guild_channels:
            if gid not in self.roles:
                self.roles[gid] = {**self.roles[self.everyone_role_id], "id": str(gid)}
        self.channels: dict[int, dict[str, Any]] = {cid: {
            "id": str(cid), "type": CHANNEL_TEXT, "guild_id": str(gid),
            "name": "general", "position": 0, "permission_overwrites": [], "topic": None,
            "nsfw": False, "rate_limit_per_user": 0, "parent_id": None,
            "last_message_id": None, "flags": 0,
        } for gid, cid in self.guild_channels.items()}

        # Records.
        self.requests: list[RecordedRequest] = []
        self.unknown: list[RecordedRequest] = []
        self.errors: list[str] = []
        self.rejected: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self._deleted: set[int] = set()
        self.typing: list[int] = []
        self.threads: dict[int, dict[str, Any]] = {}
        self._interactions: dict[str, SentInteraction] = {}  # by token
        self.global_commands: dict[tuple[str, int], dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[tuple[str, int], dict[str, Any]]] = {}
        self.identify_payloads: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []

        self._conns: list[_GatewayConn] = []
        self._ready_shards: set[int] = set()
        self._ready_event: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._routes = self._build_routes()

    def snowflake(self, shard_of: int | None = None) -> int:
        """A fresh, increasing Discord snowflake; with `shard_of`, one that shard
        `shard_of % shard_count` owns as a guild id."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        if shard_of is not None and self.shard_count > 1:
            ms += (shard_of - ms) % self.shard_count
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    @property
    def admin_user(self) -> FakeUser:
        """Has the admin role, which grants MANAGE_GUILD."""
        return self.users["admin"]

    def _user(self, user: FakeUser | str | None) -> FakeUser:
        return user if isinstance(user, FakeUser) else self.users[user or "regular"]

    def guild_of(self, channel_id: int) -> int:
        return int(self.channels[channel_id]["guild_id"])

    def permissions_for(self, role_ids: tuple[int, ...]) -> int:
        perms = EVERYONE_PERMISSIONS
        for rid in role_ids:
            perms |= int(self.roles[rid]["permissions"])
        return perms

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> DiscordStandIn:
        self._ready_event = asyncio.Event()
        self._changed = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/api/{tail:.*}", self._rest)
        app.router.add_get("/gateway", self._gateway)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.api_base = f"http://127.0.0.1:{port}/api/v10"
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"
        return self

    async def stop(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1000, message=b"stand-in stopping"), 2)
        self._conns.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until every shard IDENTIFY'd and got READY and its GUILD_CREATE."""
        assert self._ready_event is not None, "call start() first"
        try:
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"bot did not connect within {timeout}s; requests={self.requests[-10:]}, "
                f"unknown={self.unknown}, errors={self.errors}, "
                f"identifies={len(self.identify_payloads)}") from None

    @property
    def identified_token(self) -> str | None:
        """The token of the last IDENTIFY."""
        return self.identify_payloads[-1].get("token") if self.identify_payloads else None

    def assert_clean(self) -> None:
        """Fail if the bot hit unknown routes, crashed a handler or sent refused messages."""
        problems = [f"{what}: {items}" for what, items in (
            ("unknown routes", self.unknown), ("handler errors", "\n".join(self.errors)),
            ("rejected messages", self.rejected)) if items]
        if problems:
            raise AssertionError("\n".join(problems))

    def _notify(self) -> None:
        if self._changed is not None:
            ev, self._changed = self._changed, asyncio.Event()
            ev.set()

    async def _wait_list(self, items: list[Any], predicate: Callable[[Any], bool],
                         timeout: float, since: int, what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        idx = since
        while True:
            while idx < len(items):
                idx += 1
                if predicate(items[idx - 1]):
                    return items[idx - 1]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no {what} matched within {timeout}s. Last sent: {self.sent[-5:]}; "
                    f"unknown routes: {self.unknown}; errors: {self.errors}; "
                    f"rejected: {self.rejected}")
            assert self._changed is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0,
                       *, since: int = 0) -> dict[str, Any]:
        """The first record of ``sent`` (from index ``since``) matching predicate, waiting for
        new ones until timeout. Records already there count, so there is no race with a fast
        bot; pass ``since=len(standin.sent)`` to see only new ones."""
        return await self._wait_list(self.sent, predicate, timeout, since, "sent record")

    async def wait_for_request(self, predicate: Callable[[RecordedRequest], bool],
                               timeout: float = 30.0, *, since: int = 0) -> RecordedRequest:
        return await self._wait_list(self.requests, predicate, timeout, since, "request")

    def is_deleted(self, message_id: int) -> bool:
        return message_id in self._deleted

    def guild_payload(self, guild_id: int | None = None) -> dict[str, Any]:
        """The guild as GUILD_CREATE carries it."""
        gid = guild_id or self.guild_id
        members = [u.member_payload() for u in (self.bot_user, *self.users.values())]
        roles = [r for rid, r in self.roles.items()
                 if rid == gid or rid not in self.guild_channels]  # its @everyone, shared roles
        return {
            "id": str(gid), "name": f"Stand-in Guild {list(self.guild_channels).index(gid) + 1}", "icon": None, "banner": None,
            "owner_id": str(self.admin_user.id), "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "roles": roles, "emojis": [], "stickers": [], "features": [],
            "system_channel_id": str(self.guild_channels[gid]), "system_channel_flags": 0,
            "premium_tier": 0, "preferred_locale": "en-US", "nsfw_level": 0,
            "joined_at": "2024-01-01T00:00:00+00:00", "large": False, "unavailable": False,
            "member_count": len(members), "members": members, "voice_states": [],
            "channels": [c for c in self.channels.values()
                         if c["type"] == CHANNEL_TEXT and c["guild_id"] == str(gid)],
            "threads": [self._thread_payload(t) for t in self.threads.values()
                        if t["guild_id"] == str(gid)],
            "presences": [], "stage_instances": [], "guild_scheduled_events": [],
        }

    def _thread_payload(self, thread: dict[str, Any]) -> dict[str, Any]:
        """A thread the bot created, with the bot as a member."""
        member = {"id": thread["id"], "user_id": str(self.bot_user_id), "flags": 0,
                  "join_timestamp": thread["thread_metadata"]["create_timestamp"]}
        return {**thread, "member": member}

    def _me_payload(self) -> dict[str, Any]:
        return {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "flags": 0}

    def _application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id), "name": self.bot_user.username, "description": "",
            "icon": None, "summary": "", "bot_public": True, "bot_require_code_grant": False,
            "verify_key": "0" * 64, "owner": self.admin_user.payload(), "team": None,
            "flags": APPLICATION_FLAGS, "rpc_origins": [], "redirect_uris": [],
            "interactions_endpoint_url": None,  # if set, discord.py warns commands won't arrive
            "bot": self.bot_user.payload(),
        }

    def _channel_or_404(self, channel_id: int) -> dict[str, Any]:
        if channel_id not in self.channels:
            raise StandInError(404, 10003, "Unknown Channel")
        return self.channels[channel_id]

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _GatewayConn(ws)
        self.gateway_queries.append(dict(request.query))
        self._conns.append(conn)
        try:
            await conn.send(10, None, {"heartbeat_interval": self.heartbeat_interval_ms})  # HELLO
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    # Frames are JSON text: discord.py asks for zlib-stream, which only
                    # compresses what the server sends, and the stand-in does not.
                    self.errors.append(f"gateway: unexpected {msg.type.name} frame")
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                frame = json.loads(msg.data)
                if frame.get("op") == 1:  # HEARTBEAT -> HEARTBEAT_ACK
                    await conn.send(11, None, None)
                elif frame.get("op") == 2:  # IDENTIFY
                    await self._identify(conn, frame.get("d") or {})
                # presence (3) and voice state (4) updates need no answer
        except ConnectionResetError:
            pass  # the client went away mid-send
        except Exception:
            self.errors.append("gateway:\n" + traceback.format_exc())
        finally:
            with contextlib.suppress(ValueError):
                self._conns.remove(conn)
            self._notify()
        return ws

    async def _identify(self, conn: _GatewayConn, d: dict[str, Any]) -> None:
        self.identify_payloads.append(d)
        shard_id, shard_count = (int(x) for x in (d.get("shard") or [0, 1]))
        conn.shard = (shard_id, shard_count)
        conn.intents = d.get("intents")
        owned = [g for g in self.guild_channels if conn.owns_guild(g)]
        await conn.send(0, "READY", {
            "v": 10, "user": self._me_payload(), "session_id": uuid.uuid4().hex,
            "guilds": [{"id": str(g), "unavailable": True} for g in owned],
            "resume_gateway_url": self.gateway_url, "shard": [shard_id, shard_count],
            "application": {"id": str(self.application_id), "flags": APPLICATION_FLAGS},
        })
        for g in owned:
            await conn.send(0, "GUILD_CREATE", self.guild_payload(g))
        self._ready_shards.add(shard_id)
        if len(self._ready_shards) >= shard_count and self._ready_event is not None:
            self._ready_event.set()
        self._notify()

    def _conn(self, guild_id: int | None = None) -> _GatewayConn | None:
        """The open connection of the shard that owns the guild."""
        gid = guild_id or self.guild_id
        return next((c for c in reversed(self._conns) if c.owns_guild(gid)), None)

    async def dispatch(self, event: str, data: Any, *, required: bool = True,
                       guild_id: int | None = None) -> None:
        """Send a DISPATCH to the shard that owns the guild (the first unless given)."""
        conn = self._conn(guild_id)
        if conn is not None:
            await conn.send(0, event, data)
        elif required:
            raise RuntimeError(f"cannot dispatch {event}: the bot is not connected to the "
                               f"stand-in gateway (identifies: {len(self.identify_payloads)})")

    # ------------------------------------------------------------------ test actions

    def find_command(self, name: str, guild_id: int | None = None) -> dict[str, Any] | None:
        """A slash command the bot registered, the guild's first (as Discord resolves them)."""
        cmd = self.guild_commands.get(guild_id or self.guild_id, {}).get((name, 1))
        return cmd if cmd is not None else self.global_commands.get((name, 1))

    def registered_command_names(self) -> dict[str, list[str]]:
        return {"global": sorted(n for n, _ in self.global_commands),
                **{str(g): sorted(n for n, _ in c) for g, c in self.guild_commands.items()}}

    async def send_interaction(self, name: str, options: dict[str, Any] | None = None, *,
                               user: FakeUser | str | None = None,
                               guild_id: int | None = None) -> SentInteraction:
        """Dispatch INTERACTION_CREATE for ``/name`` ("source add" for a subcommand) in the
        guild's channel, by user "regular" (the default), "admin" (its role grants MANAGE_GUILD)
        or a FakeUser. options is {option name: value}: the bot must have registered them (and
        the command); values are coerced to the registered types."""
        user_obj = self._user(user)
        gid = guild_id or self.guild_id
        channel_id = self.guild_channels[gid]
        top, *subs = name.split()
        cmd = self.find_command(top, gid)
        if cmd is None:
            raise LookupError(f"/{top} is not registered with the stand-in; "
                              f"registered: {self.registered_command_names()}")
        schema: list[dict[str, Any]] = cmd.get("options") or []
        nesting: list[tuple[int, str]] = []
        for part in subs:
            opt = next((o for o in schema if o["name"] == part
                        and o["type"] in (OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP)), None)
            if opt is None:
                raise LookupError(f"/{name}: no subcommand {part!r} registered")
            nesting.append((opt["type"], part))
            schema = opt.get("options") or []
        by_name = {o["name"]: o for o in schema}
        options = options or {}
        missing = [n for n, o in by_name.items() if o.get("required") and n not in options]
        unknown = [n for n in options if int(by_name.get(n, {}).get("type", 0)) not in COERCE]
        if missing or unknown:
            raise LookupError(f"/{name}: options missing: {missing}; unknown or of a type the "
                              f"stand-in does not send: {unknown}; registered: {by_name}")
        opts = [{"name": n, "type": by_name[n]["type"], "value": COERCE[by_name[n]["type"]](v)}
                for n, v in options.items()]
        resolved: dict[str, Any] = {}
        for o in opts:  # channels and roles travel with their objects, as Discord sends them
            if o["type"] == OPT_CHANNEL:
                resolved.setdefault("channels", {})[o["value"]] = {
                    **self._channel_or_404(int(o["value"])), "permissions": "0"}
            elif o["type"] == OPT_ROLE:
                resolved.setdefault("roles", {})[o["value"]] = self.roles[int(o["value"])]
        for opt_type, part in reversed(nesting):
            opts = [{"type": opt_type, "name": part, "options": opts}]

        perms = str(self.permissions_for(user_obj.role_ids))
        iid = self.snowflake()
        token = f"itok.{iid}.{uuid.uuid4().hex}"
        data: dict[str, Any] = {"id": cmd["id"], "name": top, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        payload: dict[str, Any] = {
            "id": str(iid), "application_id": str(self.application_id), "type": 2,
            "token": token, "version": 1, "data": data, "locale": "en-US",
            "app_permissions": str(self.permissions_for(())), "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "guild_id": str(gid), "guild_locale": "en-US",
            "guild": {"id": str(gid), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": {**self.channels[channel_id], "permissions": perms},
            "member": {**user_obj.member_payload(), "permissions": perms},
            "authorizing_integration_owners": {"0": str(gid)}, "context": 0,
        }
        sent = SentInteraction(
            standin=self, id=iid, token=token, name=name, payload=payload, user=user_obj,
            channel_id=channel_id, since=len(self.sent),
            dispatched_at=asyncio.get_running_loop().time())
        self._interactions[token] = sent
        await self.dispatch("INTERACTION_CREATE", payload, guild_id=gid)
        return sent

    async def remove_guild(self, guild_id: int) -> None:
        """The bot is removed from a guild (GUILD_DELETE, not unavailable)."""
        await self.dispatch("GUILD_DELETE", {"id": str(guild_id)}, guild_id=guild_id)

    async def send_message(self, content: str, *, user: FakeUser | str | None = None,
                           channel_id: int | None = None, mentions_bot: bool = False) -> int:
        """A user posts a message (MESSAGE_CREATE) in the guild's channel or a thread the bot
        opened; returns its id. mentions_bot puts ``<@BOTID>`` in front (unless the content
        mentions the bot already) and lists the bot in ``mentions``."""
        user_obj = self._user(user)
        channel_id = channel_id or self.channel_id
        self._channel_or_404(channel_id)
        if mentions_bot and not re.search(rf"<@!?{self.bot_user_id}>", content):
            content = f"<@{self.bot_user_id}> {content}"
        mentioned = [{**u.payload(), "member": u.member_payload(with_user=False)}
                     for u in (self.bot_user, *self.users.values())
                     if re.search(rf"<@!?{u.id}>", content)]
        msg = self._make_message(channel_id, user_obj, {"content": content})
        msg["mentions"] = mentioned
        mentions_me = any(m["id"] == str(self.bot_user_id) for m in mentioned)
        event = {**msg, "member": user_obj.member_payload(with_user=False)}
        conn = self._conn(self.guild_of(channel_id))
        intents = conn.intents if conn is not None else None
        if intents is not None:
            if not intents & INTENT_GUILD_MESSAGES:
                return int(msg["id"])  # Discord does not send it
            if not intents & INTENT_MESSAGE_CONTENT and not mentions_me:
                event.update({"content": "", "embeds": [], "attachments": []})
        await self.dispatch("MESSAGE_CREATE", event, guild_id=self.guild_of(channel_id))
        return int(msg["id"])

    # ------------------------------------------------------------------ messages

    def _make_message(self, channel_id: int, author: FakeUser, data: dict[str, Any], *,
                      flags: int = 0, msg_type: int = 0,
                      interaction: SentInteraction | None = None) -> dict[str, Any]:
        mid = self.snowflake()
        msg: dict[str, Any] = {
            "id": str(mid), "channel_id": str(channel_id),
            "guild_id": self.channels[channel_id]["guild_id"],
            "author": author.payload(), "content": data.get("content") or "",
            "timestamp": _now_iso(), "edited_timestamp": None, "tts": bool(data.get("tts")),
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": list(data.get("embeds") or []), "pinned": False, "type": msg_type,
            "flags": flags, "components": list(data.get("components") or []),
        }
        if data.get("nonce") is not None:
            msg["nonce"] = data["nonce"]
        if interaction is not None:
            msg["webhook_id"] = msg["application_id"] = str(self.application_id)
        ref = data.get("message_reference") or {}
        if ref.get("message_id"):
            target = self.messages.get(int(ref["message_id"]))
            if target is None and ref.get("fail_if_not_exists", True):
                raise StandInError(400, 50035, "Invalid Form Body", {"message_reference": "unknown"})
            msg["type"] = 19  # REPLY
            msg["message_reference"] = {"type": 0, "message_id": str(ref["message_id"]),
                                        "channel_id": str(channel_id),
                                        "guild_id": self.channels[channel_id]["guild_id"]}
            if target is not None:
                msg["referenced_message"] = {k: v for k, v in target.items()
                                             if k != "referenced_message"}
        self.messages[mid] = msg
        return msg

    @staticmethod
    def _apply_edit(msg: dict[str, Any], data: dict[str, Any]) -> None:
        for key, empty in (("content", ""), ("embeds", []), ("components", [])):
            if key in data:
                msg[key] = data[key] if data[key] is not None else empty
        msg["flags"] &= ~FLAG_LOADING
        msg["edited_timestamp"] = _now_iso()

    @staticmethod
    def _validate(data: dict[str, Any], *, creating: bool) -> None:
        """Refuse, as Discord does, what breaks its message limits."""
        errors: dict[str, Any] = {}

        def too_long(limit: int) -> dict[str, Any]:
            return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                 "message": f"Must be {limit} or fewer in length."}]}

        content = data.get("content") or ""
        if len(content) > 2000:
            errors["content"] = too_long(2000)
        embeds = data.get("embeds") or []
        if len(embeds) > 10:
            errors["embeds"] = too_long(10)
        total = 0
        for i, e in enumerate(embeds):
            texts = {"title": e.get("title"), "description": e.get("description"),
                     "footer": (e.get("footer") or {}).get("text"),
                     "author": (e.get("author") or {}).get("name")}
            problems = {k: too_long(EMBED_LIMITS[k]) for k, v in texts.items()
                        if len(v or "") > EMBED_LIMITS[k]}
            total += sum(len(v or "") for v in texts.values())
            fields = e.get("fields") or []
            pairs = [(f.get("name") or "", f.get("value") or "") for f in fields]
            total += sum(len(n) + len(v) for n, v in pairs)
            if len(fields) > 25 or any(not n or not v or len(n) > 256 or len(v) > 1024
                                       for n, v in pairs):
                problems["fields"] = too_long(25 if len(fields) > 25 else 1024)
            if problems:
                errors.setdefault("embeds", {})[str(i)] = problems
        if total > EMBED_TOTAL:
            errors.setdefault("embeds", {})["_errors"] = [{"code": "MAX_EMBED_SIZE_EXCEEDED",
                                                          "message": f"Over {EMBED_TOTAL}"}]
        if errors:
            raise StandInError(400, 50035, "Invalid Form Body", errors)
        if creating and not (content or embeds or data.get("components")
                             or data.get("sticker_ids") or data.get("poll")):
            raise StandInError(400, 50006, "Cannot send an empty message")

    def _record(self, kind: str, msg: dict[str, Any] | None, body: dict[str, Any], *,
                interaction: SentInteraction | None = None, **extra: Any) -> dict[str, Any]:
        """One entry of ``sent``: what the message looks like now, and what the bot asked."""
        src = msg if msg is not None else body
        ref = (msg or {}).get("message_reference") or {}
        flags = int(src.get("flags") or 0)
        rec: dict[str, Any] = {
            "kind": kind,
            "channel_id": int(msg["channel_id"]) if msg else getattr(interaction, "channel_id", None),
            "content": src.get("content"), "embeds": src.get("embeds") or [],
            "allowed_mentions": body.get("allowed_mentions"),
            "flags": flags, "ephemeral": bool(flags & FLAG_EPHEMERAL),
            "interaction_id": interaction.id if interaction else None,
            "message_id": int(msg["id"]) if msg else None,
            "reference_message_id": int(ref["message_id"]) if ref.get("message_id") else None,
            **extra,
        }
        self.sent.append(rec)
        self._notify()
        return rec

    async def _echo(self, event: str, msg: dict[str, Any]) -> None:
        """Discord tells the bot about its own visible messages too."""
        if msg["flags"] & FLAG_EPHEMERAL:
            return
        if event == "MESSAGE_DELETE":
            data = {"id": msg["id"], "channel_id": msg["channel_id"], "guild_id": msg["guild_id"]}
        else:
            data = {**msg, "member": self.bot_user.member_payload(with_user=False)}
        await self.dispatch(event, data, required=False, guild_id=int(msg["guild_id"]))

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any]]]:
        """Handlers take (request, body, **path parts) and return JSON data, None for 204, or
        a response; they may be plain functions."""
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        table = [
            ("GET", "/users/@me", lambda request, body: self._me_payload()),
            ("GET", "/oauth2/applications/@me", lambda request, body: self._application_payload()),
            ("GET", "/gateway", lambda request, body: {"url": self.gateway_url}),
            ("GET", "/gateway/bot", lambda request, body: {
                "url": self.gateway_url, "shards": self.shard_count, "session_start_limit": limit}),
            ("PUT", "/applications/{app}/commands", self._bulk_commands),
            ("PUT", "/applications/{app}/guilds/{gid}/commands", self._bulk_commands),
            ("POST", "/interactions/{iid}/{token}/callback", self._interaction_callback),
            ("POST", "/webhooks/{app}/{token}", self._webhook_execute),
            ("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_edit),
            ("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete),
            ("POST", "/channels/{cid}/messages", self._post_message),
            ("PATCH", "/channels/{cid}/messages/{mid}", self._edit_message),
            ("DELETE", "/channels/{cid}/messages/{mid}", self._delete_message),
            ("POST", "/channels/{cid}/typing", self._typing),
            ("POST", "/channels/{cid}/messages/{mid}/threads", self._thread_from_message),
        ]
        return [(method, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"),
                 fn) for method, path, fn in table]

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        m = re.match(r"^/api/v\d+(/.*?)/?$", request.path)
        path = m.group(1) if m else request.path
        raw = await request.read()
        try:  # discord.py sends JSON; multipart only with files, which the bot never sends
            body = json.loads(raw) if raw else None
        except ValueError:
            self.errors.append(f"{request.method} {path}: the body is not JSON: {raw[:200]!r}")
            return _json_response({"message": "stand-in could not read the body", "code": 0}, 400)
        rec = RecordedRequest(request.method, path, body)
        self.requests.append(rec)
        try:
            for method, rx, fn in self._routes:
                mm = rx.match(path)
                if mm is not None and method == request.method:
                    result = fn(request, body if body is not None else {}, **mm.groupdict())
                    result = await result if asyncio.iscoroutine(result) else result
                    if isinstance(result, web.StreamResponse):
                        return result
                    return web.Response(status=204) if result is None else _json_response(result)
            self.unknown.append(rec)
            return _json_response({"message": "Unknown route", "code": 0}, 404)
        except StandInError as e:
            if e.status == 400 and e.code in (50035, 50006):
                self.rejected.append({"method": request.method, "path": path,
                                      "error": e.message, "errors": e.errors, "body": body})
            return _json_response({"message": e.message, "code": e.code, "errors": e.errors},
                                  e.status)
        except Exception:
            # A 400, not a 5xx: discord.py would retry those with sleeps.
            tb = traceback.format_exc()
            self.errors.append(f"{request.method} {path}:\n{tb}")
            return _json_response(
                {"message": f"stand-in handler crashed: {tb.splitlines()[-1]}", "code": 0}, 400)
        finally:
            self._notify()

    def _bulk_commands(self, request, body, app, gid=None):
        """Replace the global (or a guild's) commands; a command that stays keeps its id."""
        if int(app) != self.application_id:
            raise StandInError(403, 50001, "Missing Access")
        scope = self.global_commands if gid is None else self.guild_commands.setdefault(int(gid), {})
        old = dict(scope)
        scope.clear()
        for data in body or []:
            key = (data["name"], int(data.get("type") or 1))
            scope[key] = {"description": "", "options": [], "default_member_permissions": None,
                          "nsfw": False, **data, "type": key[1],
                          "id": old[key]["id"] if key in old else str(self.snowflake()),
                          "application_id": str(self.application_id),
                          "version": str(self.snowflake())}
            if gid is not None:
                scope[key]["guild_id"] = gid
        return list(scope.values())

    # ------------------------------------------------------------------ REST: interactions

    async def _interaction_callback(self, request, body, iid, token):
        it = self._interactions.get(token)
        if it is None or it.id != int(iid):
            raise StandInError(404, 10062, "Unknown interaction")
        if it.callback is not None:
            raise StandInError(400, 40060, "Interaction has already been acknowledged.")
        ctype = int(body.get("type") or 0)
        data = body.get("data") or {}
        if ctype == 4:  # CHANNEL_MESSAGE_WITH_SOURCE
            self._validate(data, creating=True)
        it.callback, it.callback_type = body, ctype
        it.acked_after = asyncio.get_running_loop().time() - it.dispatched_at
        message = None
        flags = int(data.get("flags") or 0)
        if ctype in (4, 5):  # a message, or a deferral: "thinking..." until the follow-up
            msg_data = data if ctype == 4 else {}
            if ctype == 5:
                flags = (flags & FLAG_EPHEMERAL) | FLAG_LOADING
            message = self._make_message(it.channel_id, self.bot_user, msg_data, flags=flags,
                                         msg_type=20, interaction=it)
            it.original_message_id = int(message["id"])
            it.message_ids.append(it.original_message_id)
        self._record("interaction_response", message, data, interaction=it, callback_type=ctype)
        if message is not None:
            await self._echo("MESSAGE_CREATE", message)
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return None
        return {"interaction": {"id": str(it.id), "type": 2, "response_message_loading": ctype == 5,
                                "response_message_ephemeral": bool(flags & FLAG_EPHEMERAL),
                                "response_message_id": message and message["id"]},
                "resource": {"type": ctype, **({"message": message} if message else {})}}

    def _webhook_message(self, app: str, token: str, mid: str | None = None):
        """The interaction a follow-up webhook is for, and the message ``mid`` of it."""
        it = self._interactions.get(token)
        if it is None or int(app) != self.application_id or it.callback is None:
            raise StandInError(404, 10015, "Unknown Webhook")
        if asyncio.get_running_loop().time() - it.dispatched_at > self.token_ttl:
            raise StandInError(401, 50027, "Invalid Webhook Token")
        if mid is None:
            return it, None
        message_id = it.original_message_id if mid == "@original" else int(mid)
        if message_id not in it.message_ids or self.is_deleted(message_id):
            raise StandInError(404, 10008, "Unknown Message")
        return it, self.messages[message_id]

    async def _webhook_execute(self, request, body, app, token):
        it, _ = self._webhook_message(app, token)
        self._validate(body, creating=True)
        orig = it.original
        if orig is not None and orig["flags"] & FLAG_LOADING and not self.is_deleted(int(orig["id"])):
            # The first follow-up after a deferral replaces the "thinking..." message, keeping
            # the ephemerality chosen at defer time.
            self._apply_edit(orig, body)
            orig["edited_timestamp"] = None
            message = orig
            self._record("followup", message, body, interaction=it, replaced_deferred=True)
            await self._echo("MESSAGE_UPDATE", message)
        else:
            message = self._make_message(it.channel_id, self.bot_user, body,
                                         flags=int(body.get("flags") or 0), interaction=it)
            it.message_ids.append(int(message["id"]))
            self._record("followup", message, body, interaction=it, replaced_deferred=False)
            await self._echo("MESSAGE_CREATE", message)
        return message if request.query.get("wait", "").lower() in ("1", "true") else None

    async def _webhook_edit(self, request, body, app, token, mid):
        it, msg = self._webhook_message(app, token, mid)
        return await self._edit(msg, body, interaction=it)

    async def _webhook_delete(self, request, body, app, token, mid):
        it, msg = self._webhook_message(app, token, mid)
        await self._delete(msg, body, interaction=it)

    # ------------------------------------------------------------------ REST: channels

    async def _post_message(self, request, body, cid):
        self._channel_or_404(int(cid))
        self._validate(body, creating=True)
        msg = self._make_message(int(cid), self.bot_user, body,
                                 flags=int(body.get("flags") or 0) & ~FLAG_EPHEMERAL)
        self._record("channel_message", msg, body)
        await self._echo("MESSAGE_CREATE", msg)
        return msg

    def _channel_message(self, cid: str, mid: str) -> dict[str, Any]:
        msg = self.messages.get(int(mid))
        if (msg is None or msg["channel_id"] != cid or self.is_deleted(int(mid))
                or msg["flags"] & FLAG_EPHEMERAL):
            raise StandInError(404, 10008, "Unknown Message")
        return msg

    async def _edit_message(self, request, body, cid, mid):
        msg = self._channel_message(cid, mid)
        if msg["author"]["id"] != str(self.bot_user_id):
            raise StandInError(403, 50005, "Cannot edit a message authored by another user")
        return await self._edit(msg, body)

    async def _delete_message(self, request, body, cid, mid):
        await self._delete(self._channel_message(cid, mid), body)

    async def _edit(self, msg: dict[str, Any], body: dict[str, Any], *,
                    interaction: SentInteraction | None = None) -> dict[str, Any]:
        self._validate({**msg, **body}, creating=False)
        self._apply_edit(msg, body)
        self._record("edit", msg, body, interaction=interaction)
        await self._echo("MESSAGE_UPDATE", msg)
        return msg

    async def _delete(self, msg: dict[str, Any], body: dict[str, Any], *,
                      interaction: SentInteraction | None = None) -> None:
        self._deleted.add(int(msg["id"]))
        self._record("delete", msg, body, interaction=interaction)
        await self._echo("MESSAGE_DELETE", msg)

    def _typing(self, request, body, cid):
        self._channel_or_404(int(cid))
        self.typing.append(int(cid))

    async def _thread_from_message(self, request, body, cid, mid):
        """A public thread from a message: Discord gives it the message's id."""
        if self._channel_or_404(int(cid))["type"] != CHANNEL_TEXT:
            raise StandInError(400, 50024, "Cannot execute action on this channel type")
        starter = self._channel_message(cid, mid)
        if int(mid) in self.channels:
            raise StandInError(400, 160004, "A thread has already been created for this message")
        now = _now_iso()
        thread = {
            "id": mid, "type": CHANNEL_PUBLIC_THREAD,
            "guild_id": self._channel_or_404(int(cid))["guild_id"],
            "parent_id": cid, "owner_id": str(self.bot_user_id), "name": body.get("name"),
            "last_message_id": None, "message_count": 0, "member_count": 1,
            "total_message_sent": 0, "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
            "flags": 0, "applied_tags": [],
            "thread_metadata": {"archived": False, "locked": False, "archive_timestamp": now,
                                "auto_archive_duration": body.get("auto_archive_duration") or 1440,
                                "create_timestamp": now},
        }
        self.channels[int(mid)] = self.threads[int(mid)] = thread
        starter["flags"] |= FLAG_HAS_THREAD
        starter["thread"] = dict(thread)
        # THREAD_CREATE before the REST answer, so discord.py has the thread cached by the
        # time the bot sends in it or a user posts in it.
        await self.dispatch("THREAD_CREATE", {**self._thread_payload(thread),
                                              "newly_created": True},
                            required=False, guild_id=int(thread["guild_id"]))
        return _json_response(self._thread_payload(thread), 201)
