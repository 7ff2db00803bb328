"""A local stand-in for Discord, for end-to-end tests of the bot.

It speaks enough of Discord's REST API (v10) and gateway for the real
discord.py 2.7 client (``commands.Bot`` or ``commands.AutoShardedBot``, with
app commands) to log in, connect, cache one guild, receive interactions and
messages, and answer them. Everything listens on 127.0.0.1 on a free port.

Point a client at it with::

    standin = DiscordStandIn()
    await standin.start()
    discord.http.Route.BASE = standin.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(standin.gateway_url)

(``AutoShardedBot`` ignores ``DEFAULT_GATEWAY``: it asks ``GET /gateway/bot``,
which answers with ``standin.gateway_url``.)

What the bot showed users is kept in ``standin.sent`` (one dict per message
sent, edited, deleted, or interaction callback); every REST call is in
``standin.requests``; routes the stand-in does not know are in
``standin.unknown``; handler crashes in ``standin.errors``; messages Discord
would have refused (empty, too long, ...) in ``standin.rejected``.

Behaviour copied from Discord on purpose, because bots get it wrong:

* a second callback for one interaction fails with 40060 "already acknowledged";
* a follow-up before any callback fails with 10015 "Unknown Webhook";
* after a deferred callback (type 5), the *first* follow-up replaces the
  "thinking..." message (same message id, and it keeps the ephemerality chosen
  at defer time, whatever the follow-up asks for);
* content over 2000 characters, more than 10 embeds, embed limits, and empty
  messages are refused with 400 (code 50035 / 50006);
* without the MESSAGE_CONTENT intent, guild messages that do not mention the bot
  arrive with empty content; without GUILD_MESSAGES they do not arrive at all;
* the bot's own non-ephemeral messages come back to it as MESSAGE_CREATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import itertools
import json
import re
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiohttp import WSMsgType, web

__all__ = [
    "DiscordStandIn",
    "FakeUser",
    "RecordedRequest",
    "SentInteraction",
    "StandInError",
]

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADD_REACTIONS = 1 << 6
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38

EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)
ADMIN_ROLE_PERMISSIONS = MANAGE_GUILD

# Gateway intents that change what the stand-in dispatches.
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DM_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Message flags.
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

# Application command option types.
OPT_SUB_COMMAND = 1
OPT_SUB_COMMAND_GROUP = 2
OPT_STRING = 3
OPT_INTEGER = 4
OPT_BOOLEAN = 5
OPT_USER = 6
OPT_CHANNEL = 7
OPT_ROLE = 8
OPT_MENTIONABLE = 9
OPT_NUMBER = 10

CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_PRIVATE_THREAD = 12
THREAD_TYPES = (10, CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD)


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def _json_response(data: Any, status: int = 200) -> web.Response:
    # discord.py only decodes JSON when Content-Type is exactly "application/json";
    # aiohttp's json_response would add "; charset=utf-8".
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )


def _no_content() -> web.Response:
    return web.Response(status=204)


class StandInError(Exception):
    """An API error the stand-in answers with (status, Discord error code, message)."""

    def __init__(self, status: int, code: int, message: str, errors: dict | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return _json_response(body, self.status)


class RecordedRequest(NamedTuple):
    """One REST call: unpacks as ``method, path, json``. ``path`` has no /api/v10 prefix
    and no query string."""

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
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name or self.username,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }

    def member_payload(self, *, with_user: bool = True, joined_at: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "joined_at": joined_at or "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.payload()
        return data

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


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
    command: dict[str, Any] | None = None
    callback: dict[str, Any] | None = None  # raw callback body
    callback_type: int | None = None
    acked_after: float | None = None  # seconds between dispatch and callback
    late: bool = False  # callback arrived after ack_deadline
    original_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)  # original first, then follow-ups

    @property
    def responded(self) -> bool:
        return self.callback is not None

    @property
    def deferred(self) -> bool:
        return self.callback_type in (5, 6)

    @property
    def records(self) -> list[dict[str, Any]]:
        """Entries of standin.sent about this interaction, in order."""
        return [r for r in self.standin.sent if r.get("interaction_id") == self.id]

    @property
    def original(self) -> dict[str, Any] | None:
        """Current state of the original response message (after edits)."""
        if self.original_message_id is None:
            return None
        return self.standin.messages.get(self.original_message_id)

    @property
    def followups(self) -> list[dict[str, Any]]:
        return [
            self.standin.messages[m]
            for m in self.message_ids
            if m != self.original_message_id and m in self.standin.messages
        ]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Current state of every message this interaction produced, not deleted."""
        return [
            self.standin.messages[m]
            for m in self.message_ids
            if m in self.standin.messages and not self.standin.is_deleted(m)
        ]

    @property
    def ephemeral(self) -> bool:
        orig = self.original
        if orig is not None:
            return bool(orig["flags"] & FLAG_EPHEMERAL)
        data = (self.callback or {}).get("data") or {}
        return bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)

    def texts(self) -> list[str]:
        """Content of every message the interaction produced, current state."""
        return [m["content"] for m in self.messages]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Wait for a standin.sent record of this interaction matching predicate."""

        def check(r: dict[str, Any]) -> bool:
            return r.get("interaction_id") == self.id and (predicate is None or predicate(r))

        return await self.standin.wait_for(check, timeout=timeout, since=self.since)

    async def wait_response(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the interaction callback record."""
        return await self.wait_for(lambda r: r["kind"] == "interaction_response", timeout)


class _GatewayConn:
    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]):
        self.ws = ws
        self.query = query
        self.seq = 0
        self.shard: tuple[int, int] | None = None
        self.session_id: str | None = None
        self.intents: int | None = None
        self.identified = False
        self.lock = asyncio.Lock()
        self.opened_at = time.monotonic()

    @property
    def open(self) -> bool:
        return not self.ws.closed

    def owns_guild(self, guild_id: int) -> bool:
        if self.shard is None:
            return False
        shard_id, shard_count = self.shard
        return (guild_id >> 22) % max(shard_count, 1) == shard_id

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: Any) -> None:
        async with self.lock:
            self.seq += 1
            await self.ws.send_str(json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}))


_Handler = Callable[..., Any]


class DiscordStandIn:
    """A fake Discord (REST + gateway) on 127.0.0.1 for one bot."""

    def __init__(
        self,
        *,
        shard_count: int = 1,
        heartbeat_interval_ms: int = 41250,
        expected_token: str | None = None,
        ack_deadline: float | None = None,
        echo_bot_messages: bool = True,
        validate_messages: bool = True,
        guild_name: str = "Stand-in Guild",
        channel_name: str = "general",
        bot_name: str = "newsbot",
    ) -> None:
        """
        shard_count: what GET /gateway/bot recommends.
        expected_token: if set, IDENTIFY with another token is closed with 4004 and
            REST calls with another ``Authorization: Bot ...`` get 401.
        ack_deadline: if set (Discord uses 3.0), callbacks later than this many
            seconds after dispatch get 404 "Unknown interaction" (10062).
        echo_bot_messages: dispatch MESSAGE_CREATE/UPDATE/DELETE for the bot's own
            visible messages, as Discord does.
        validate_messages: refuse messages Discord would refuse (400).
        """
        self.shard_count = shard_count
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.expected_token = expected_token
        self.ack_deadline = ack_deadline
        self.echo_bot_messages = echo_bot_messages
        self.validate_messages = validate_messages

        self._ids = itertools.count(1)
        self.port: int | None = None
        self.api_base = ""
        self.gateway_url = ""
        self.http_base = ""

        self.application_id = self.snowflake()
        self.bot_user_id = self.application_id  # as for any modern Discord app
        self.guild_id = self.snowflake()
        self.everyone_role_id = self.guild_id  # @everyone has the guild's id
        self.admin_role_id = self.snowflake()
        self.channel_id = self.snowflake()
        self.bot_user = FakeUser(self.bot_user_id, bot_name, bot=True)
        self.guild_name = guild_name

        self.users: dict[str, FakeUser] = {}
        self.add_user("regular", "reader")
        self.add_user("admin", "editor", admin=True)

        self.roles: dict[int, dict[str, Any]] = {
            self.everyone_role_id: self._role_payload(
                self.everyone_role_id, "@everyone", EVERYONE_PERMISSIONS, 0
            ),
            self.admin_role_id: self._role_payload(
                self.admin_role_id, "admin", ADMIN_ROLE_PERMISSIONS, 1
            ),
        }
        self.channels: dict[int, dict[str, Any]] = {
            self.channel_id: {
                "id": str(self.channel_id),
                "type": CHANNEL_TEXT,
                "guild_id": str(self.guild_id),
                "name": channel_name,
                "position": 0,
                "permission_overwrites": [],
                "topic": None,
                "nsfw": False,
                "rate_limit_per_user": 0,
                "parent_id": None,
                "last_message_id": None,
                "flags": 0,
                "default_thread_rate_limit_per_user": 0,
            }
        }
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id

        # Records.
        self.requests: list[RecordedRequest] = []
        self.request_log: list[dict[str, Any]] = []  # requests with query, files, auth
        self.unknown: list[RecordedRequest] = []
        self.errors: list[str] = []
        self.rejected: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self._meta: dict[int, dict[str, Any]] = {}
        self.attachments: dict[int, bytes] = {}
        self.reactions: list[tuple[str, int, int, str]] = []  # (op, channel, message, emoji)
        self.typing: list[int] = []
        self.threads: dict[int, dict[str, Any]] = {}
        self.interactions: dict[int, SentInteraction] = {}
        self._interactions_by_token: dict[str, SentInteraction] = {}
        self.global_commands: dict[tuple[str, int], dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[tuple[str, int], dict[str, Any]]] = {}
        self.identify_payloads: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.gateway_log: list[dict[str, Any]] = []  # every frame the client sent
        self.dropped_events: list[tuple[str, str]] = []  # (event, reason)
        self.rest_tokens: list[str] = []

        self._conns: list[_GatewayConn] = []
        self._sessions: dict[str, dict[str, Any]] = {}
        self._ready_shards: dict[int, set[int]] = {}
        self._ready_event: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = []
        self._build_routes()

    # ------------------------------------------------------------------ ids, users

    def snowflake(self) -> int:
        """A fresh, increasing Discord snowflake."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    def add_user(self, key: str, username: str, *, admin: bool = False, bot: bool = False) -> FakeUser:
        """Add a guild member; ``admin`` gives the admin role (MANAGE_GUILD)."""
        roles = (self.admin_role_id,) if admin else ()
        user = FakeUser(self.snowflake(), username, roles, bot=bot)
        self.users[key] = user
        return user

    @property
    def regular_user(self) -> FakeUser:
        return self.users["regular"]

    @property
    def admin_user(self) -> FakeUser:
        return self.users["admin"]

    def _all_users(self) -> Iterable[FakeUser]:
        yield self.bot_user
        yield from self.users.values()

    def _resolve_user(self, user: FakeUser | str | int | None) -> FakeUser:
        if user is None:
            return self.regular_user
        if isinstance(user, FakeUser):
            return user
        if isinstance(user, str):
            return self.users[user]
        uid = int(getattr(user, "id", user))
        for u in self._all_users():
            if u.id == uid:
                return u
        raise KeyError(f"unknown user {user!r}")

    def permissions_for(self, role_ids: Iterable[int]) -> int:
        perms = int(self.roles[self.everyone_role_id]["permissions"])
        for rid in role_ids:
            role = self.roles.get(int(rid))
            if role is not None:
                perms |= int(role["permissions"])
        return perms

    @staticmethod
    def _role_payload(rid: int, name: str, perms: int, position: int) -> dict[str, Any]:
        return {
            "id": str(rid),
            "name": name,
            "permissions": str(perms),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> DiscordStandIn:
        self._ready_event = asyncio.Event()
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", r"/api/{tail:.*}", self._rest)
        app.router.add_get(r"/attachments/{cid}/{aid}/{name}", self._serve_attachment)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/", self._gateway)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.http_base = f"http://127.0.0.1:{self.port}"
        self.api_base = f"{self.http_base}/api/v10"
        self.gateway_url = f"ws://127.0.0.1:{self.port}/gateway"
        return self

    async def stop(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1000, message=b"stand-in stopping"), 2)
        self._conns.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until every shard IDENTIFY'd and got READY and its GUILD_CREATE."""
        assert self._ready_event is not None, "call start() first"
        try:
            await asyncio.wait_for(self._ready_event.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"bot did not connect within {timeout}s; requests={self.requests[-10:]}, "
                f"unknown={self.unknown}, errors={self.errors}, identifies={len(self.identify_payloads)}"
            ) from None

    @property
    def identified_token(self) -> str | None:
        """Token of the last IDENTIFY."""
        return self.identify_payloads[-1].get("token") if self.identify_payloads else None

    @property
    def connected(self) -> bool:
        return any(c.identified and c.open for c in self._conns)

    def assert_clean(self) -> None:
        """Fail if the bot hit unknown routes, crashed a handler, or sent refused messages."""
        problems = []
        if self.unknown:
            problems.append(f"unknown routes: {self.unknown}")
        if self.errors:
            problems.append("handler errors:\n" + "\n".join(self.errors))
        if self.rejected:
            problems.append(f"rejected messages: {self.rejected}")
        if problems:
            raise AssertionError("\n".join(problems))

    def clear_records(self) -> None:
        self.requests.clear()
        self.request_log.clear()
        self.unknown.clear()
        self.errors.clear()
        self.rejected.clear()
        self.sent.clear()

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        if self._changed is not None:
            ev, self._changed = self._changed, asyncio.Event()
            ev.set()

    async def _wait_list(
        self, items: list[Any], predicate: Callable[[Any], bool], timeout: float, since: int, what: str
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        idx = since
        while True:
            while idx < len(items):
                item = items[idx]
                idx += 1
                if predicate(item):
                    return item
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"no {what} matched within {timeout}s. Last sent: {self.sent[-5:]}; "
                    f"unknown routes: {self.unknown}; errors: {self.errors}; rejected: {self.rejected}"
                )
            assert self._changed is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0, *, since: int = 0
    ) -> dict[str, Any]:
        """Return the first record of ``sent`` (from index ``since``) matching predicate,
        waiting for new ones until timeout. Records already present count, so there
        is no race with a fast bot; pass ``since=len(standin.sent)`` to only see new ones."""
        return await self._wait_list(self.sent, predicate, timeout, since, "sent record")

    async def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 30.0, *, since: int = 0
    ) -> RecordedRequest:
        return await self._wait_list(self.requests, predicate, timeout, since, "request")

    def sent_in(self, channel_id: int) -> list[dict[str, Any]]:
        return [r for r in self.sent if r.get("channel_id") == channel_id]

    def replies_to(self, message_id: int) -> list[dict[str, Any]]:
        return [r for r in self.sent if r.get("reference_message_id") == message_id]

    def is_deleted(self, message_id: int) -> bool:
        return bool(self._meta.get(message_id, {}).get("deleted"))

    def channel_history(self, channel_id: int) -> list[dict[str, Any]]:
        """Visible messages of a channel, oldest first."""
        return [
            m
            for mid, m in sorted(self.messages.items())
            if int(m["channel_id"]) == channel_id
            and not self._meta[mid].get("deleted")
            and not (m["flags"] & FLAG_EPHEMERAL)
        ]

    # ------------------------------------------------------------------ payloads

    def guild_payload(self) -> dict[str, Any]:
        channels = [c for c in self.channels.values() if c["type"] not in THREAD_TYPES and "guild_id" in c]
        members = [u.member_payload() for u in self._all_users()]
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.admin_user.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": list(self.roles.values()),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": str(self.channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
            # GUILD_CREATE-only fields
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "voice_states": [],
            "members": members,
            "channels": channels,
            "threads": [self._thread_with_member(t) for t in self.threads.values()],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _thread_with_member(self, thread: dict[str, Any]) -> dict[str, Any]:
        data = dict(thread)
        data["guild_id"] = str(self.guild_id)
        if self._meta.get(int(thread["id"]), {}).get("bot_joined"):
            data["member"] = {
                "id": thread["id"],
                "user_id": str(self.bot_user_id),
                "join_timestamp": thread["thread_metadata"]["create_timestamp"],
                "flags": 0,
            }
        return data

    def _me_payload(self) -> dict[str, Any]:
        data = self.bot_user.payload()
        data.update({"verified": True, "mfa_enabled": False, "flags": 0, "locale": "en-US", "bio": ""})
        return data

    def _application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "description": "",
            "icon": None,
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.admin_user.payload(),
            "team": None,
            "flags": self._application_flags(),
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,  # if set, discord.py warns app commands won't arrive
            "bot": self.bot_user.payload(),
            "integration_types_config": {"0": {}},
        }

    @staticmethod
    def _application_flags() -> int:
        # GATEWAY_GUILD_MEMBERS_LIMITED | GATEWAY_MESSAGE_CONTENT_LIMITED | APPLICATION_COMMAND_BADGE
        return (1 << 15) | (1 << 19) | (1 << 23)

    def _channel_or_404(self, channel_id: int) -> dict[str, Any]:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise StandInError(404, 10003, "Unknown Channel")
        return ch

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        if not ws.can_prepare(request).ok:
            return _json_response({"message": "404: Not Found", "code": 0}, 404)
        await ws.prepare(request)
        conn = _GatewayConn(ws, dict(request.query))
        self.gateway_queries.append(dict(request.query))
        self._conns.append(conn)
        try:
            await conn.send(
                {
                    "op": 10,
                    "s": None,
                    "t": None,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["stand-in"]},
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await ws.close(code=4002, message=b"Error while decoding payload.")
                        break
                    self.gateway_log.append(frame)
                    await self._on_gateway_frame(conn, frame)
                elif msg.type == WSMsgType.BINARY:
                    self.errors.append("gateway: client sent a binary frame (ETF is not supported)")
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionResetError:
            pass  # the client went away mid-send
        except Exception:
            self.errors.append("gateway:\n" + traceback.format_exc())
        finally:
            with contextlib.suppress(ValueError):
                self._conns.remove(conn)
            if conn.session_id in self._sessions:
                self._sessions[conn.session_id]["seq"] = conn.seq
            self._notify()
        return ws

    async def _on_gateway_frame(self, conn: _GatewayConn, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        d = frame.get("d")
        if op == 1:  # HEARTBEAT
            await conn.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:  # IDENTIFY
            await self._identify(conn, d or {})
        elif op == 6:  # RESUME
            await self._resume(conn, d or {})
        elif op == 8:  # REQUEST_GUILD_MEMBERS
            await self._request_members(conn, d or {})
        # op 3 (presence) and 4 (voice state) are only logged.

    async def _identify(self, conn: _GatewayConn, d: dict[str, Any]) -> None:
        self.identify_payloads.append(d)
        if self.expected_token is not None and d.get("token") != self.expected_token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = d.get("shard") or [0, 1]
        shard_id, shard_count = int(shard[0]), int(shard[1])
        if shard_id >= shard_count:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        conn.shard = (shard_id, shard_count)
        conn.intents = d.get("intents")
        conn.session_id = uuid.uuid4().hex
        conn.identified = True
        self._sessions[conn.session_id] = {"shard": conn.shard, "intents": conn.intents, "seq": 0}
        owns = conn.owns_guild(self.guild_id)
        guilds = [{"id": str(self.guild_id), "unavailable": True}] if owns else []
        await conn.dispatch(
            "READY",
            {
                "v": 10,
                "user": self._me_payload(),
                "guilds": guilds,
                "session_id": conn.session_id,
                "resume_gateway_url": self.gateway_url,
                "shard": [shard_id, shard_count],
                "application": {"id": str(self.application_id), "flags": self._application_flags()},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "_trace": ["stand-in"],
            },
        )
        if owns:
            await conn.dispatch("GUILD_CREATE", self.guild_payload())
        self._ready_shards.setdefault(shard_count, set()).add(shard_id)
        if len(self._ready_shards[shard_count]) >= shard_count and self._ready_event is not None:
            self._ready_event.set()
        self._notify()

    async def _resume(self, conn: _GatewayConn, d: dict[str, Any]) -> None:
        session = self._sessions.get(d.get("session_id") or "")
        if session is None or (self.expected_token is not None and d.get("token") != self.expected_token):
            await conn.send({"op": 9, "s": None, "t": None, "d": False})
            return
        conn.session_id = d["session_id"]
        conn.shard = session["shard"]
        conn.intents = session["intents"]
        conn.seq = max(int(d.get("seq") or 0), int(session.get("seq") or 0))
        conn.identified = True
        # Events missed while disconnected are not replayed.
        await conn.dispatch("RESUMED", {"_trace": ["stand-in"]})
        self._notify()

    async def _request_members(self, conn: _GatewayConn, d: dict[str, Any]) -> None:
        members = [u.member_payload() for u in self._all_users()]
        user_ids = d.get("user_ids")
        if user_ids:
            wanted = {str(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m["user"]["id"] in wanted]
        elif d.get("query"):
            q = str(d["query"]).lower()
            members = [m for m in members if m["user"]["username"].lower().startswith(q)]
        limit = int(d.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk = {
            "guild_id": str(d.get("guild_id", self.guild_id)),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        if d.get("presences"):
            chunk["presences"] = []
        await conn.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _conn_for(self, guild_id: int | None) -> _GatewayConn | None:
        candidates = [c for c in self._conns if c.identified and c.open]
        if guild_id is not None:
            candidates = [c for c in candidates if c.owns_guild(guild_id)]
        else:
            candidates = [c for c in candidates if c.shard is not None and c.shard[0] == 0]
        return candidates[-1] if candidates else None

    async def dispatch(self, event: str, data: Any, *, guild_id: int | None = None) -> bool:
        """Send a DISPATCH to the shard owning guild_id (shard 0 for None).
        Returns False if no connected shard could take it."""
        conn = self._conn_for(guild_id)
        if conn is None:
            self.dropped_events.append((event, "no connected shard"))
            return False
        await conn.dispatch(event, data)
        return True

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway connection (4000 = "unknown error": discord.py RESUMEs)."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=code, message=b"stand-in drop"), 2)

    async def wait_resumed(self, timeout: float = 30.0, *, since: int = 0) -> dict[str, Any]:
        """Wait for a RESUME frame from the client (index ``since`` into gateway_log)."""
        return await self._wait_list(
            self.gateway_log, lambda f: f.get("op") == 6, timeout, since, "RESUME frame"
        )

    async def _dispatch_required(self, event: str, data: Any, *, guild_id: int | None) -> None:
        if not await self.dispatch(event, data, guild_id=guild_id):
            raise RuntimeError(
                f"cannot dispatch {event}: the bot is not connected to the stand-in gateway "
                f"(identifies so far: {len(self.identify_payloads)})"
            )

    # ------------------------------------------------------------------ test actions

    def find_command(self, name: str, *, guild: bool = True, type: int = 1) -> dict[str, Any] | None:
        """A command the bot registered, guild commands first (as Discord resolves them)."""
        if guild:
            cmd = self.guild_commands.get(self.guild_id, {}).get((name, type))
            if cmd is not None:
                return cmd
        return self.global_commands.get((name, type))

    def registered_command_names(self) -> dict[str, list[str]]:
        return {
            "global": sorted(n for n, _ in self.global_commands),
            **{str(g): sorted(n for n, _ in cmds) for g, cmds in self.guild_commands.items()},
        }

    async def send_interaction(
        self,
        name: str,
        options: dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        user: FakeUser | str | int | None = None,
        member_permissions: int | str | None = None,
        role_ids: Iterable[int] | None = None,
        channel_id: int | None = None,
        subcommand: str | None = None,
        guild: bool = True,
        locale: str = "en-US",
        strict: bool = True,
    ) -> SentInteraction:
        """Dispatch INTERACTION_CREATE for slash command ``/name [subcommand] options``.

        name may contain the subcommand path ("source add"); subcommand may be
        "add" or "group add". options is {option name: value} (coerced to the
        registered option types; users/channels/roles may be given as FakeUser,
        ids or objects with .id and get ``resolved`` data) or a raw option list.
        member_permissions defaults to what the user's roles grant (admin user:
        MANAGE_GUILD); role_ids defaults to the user's roles. With strict, the
        command and its options must have been registered by the bot.
        """
        user_obj = self._resolve_user(user)
        path = name.split()
        if subcommand:
            path += subcommand.split()
        top = path[0]
        channel_id = channel_id or self.channel_id
        cmd = self.find_command(top, guild=guild)
        if cmd is None and strict:
            raise LookupError(
                f"/{top} is not registered with the stand-in; registered: {self.registered_command_names()}"
            )

        resolved: dict[str, dict[str, Any]] = {}
        schema: list[dict[str, Any]] | None = cmd.get("options", []) if cmd else None
        leaf_schema = schema
        nesting: list[tuple[int, str]] = []
        for part in path[1:]:
            opt = None
            if leaf_schema is not None:
                opt = next((o for o in leaf_schema if o.get("name") == part), None)
            if opt is None:
                if strict:
                    raise LookupError(f"/{' '.join(path)}: no subcommand {part!r} registered")
                opt = {"type": OPT_SUB_COMMAND if part == path[-1] else OPT_SUB_COMMAND_GROUP, "name": part}
            nesting.append((int(opt["type"]), part))
            leaf_schema = opt.get("options", []) if leaf_schema is not None else None

        leaf_options = self._build_options(options, leaf_schema, resolved, strict, "/" + " ".join(path))
        opts: list[dict[str, Any]] = leaf_options
        for opt_type, part in reversed(nesting):
            opts = [{"type": opt_type, "name": part, "options": opts}]

        roles = tuple(int(r) for r in (user_obj.role_ids if role_ids is None else role_ids))
        if member_permissions is None:
            perms = self.permissions_for(roles)
        else:
            perms = int(member_permissions)

        iid = self.snowflake()
        token = f"itok.{iid}.{uuid.uuid4().hex}"
        data: dict[str, Any] = {
            "id": str(cmd["id"]) if cmd else str(self.snowflake()),
            "name": top,
            "type": 1,
        }
        if opts:
            data["options"] = opts
        if resolved:
            data["resolved"] = resolved
        if cmd and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]

        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": 2,
            "token": token,
            "version": 1,
            "data": data,
            "app_permissions": str(self.permissions_for(())),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "locale": locale,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild:
            ch = self._channel_or_404(channel_id)
            payload.update(
                {
                    "guild_id": str(self.guild_id),
                    "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
                    "guild_locale": "en-US",
                    "channel_id": str(channel_id),
                    "channel": {**ch, "permissions": str(perms)},
                    "member": {
                        **user_obj.member_payload(),
                        "roles": [str(r) for r in roles],
                        "permissions": str(perms),
                    },
                    "authorizing_integration_owners": {"0": str(self.guild_id)},
                    "context": 0,
                }
            )
        else:
            dm_id = self._dm_channel(user_obj)
            payload.update(
                {
                    "channel_id": str(dm_id),
                    "channel": self.channels[dm_id],
                    "user": user_obj.payload(),
                    "authorizing_integration_owners": {"0": str(user_obj.id)},
                    "context": 1,
                }
            )
            channel_id = dm_id

        sent = SentInteraction(
            standin=self,
            id=iid,
            token=token,
            name=" ".join(path),
            payload=payload,
            user=user_obj,
            channel_id=channel_id,
            since=len(self.sent),
            dispatched_at=asyncio.get_running_loop().time(),
            command=cmd,
        )
        self.interactions[iid] = sent
        self._interactions_by_token[token] = sent
        await self._dispatch_required("INTERACTION_CREATE", payload, guild_id=self.guild_id if guild else None)
        return sent

    def _build_options(
        self,
        options: dict[str, Any] | list[dict[str, Any]] | None,
        schema: list[dict[str, Any]] | None,
        resolved: dict[str, dict[str, Any]],
        strict: bool,
        where: str,
    ) -> list[dict[str, Any]]:
        if not options:
            options = {}
        if isinstance(options, list):
            return options
        by_name = {o["name"]: o for o in (schema or [])}
        if strict and schema is not None:
            missing = [n for n, o in by_name.items() if o.get("required") and n not in options]
            if missing:
                raise ValueError(f"{where}: required options missing: {missing}")
        out = []
        for oname, value in options.items():
            spec = by_name.get(oname)
            if spec is None:
                if strict and schema is not None:
                    raise LookupError(f"{where}: no option {oname!r}; registered: {sorted(by_name)}")
                otype = self._infer_type(value)
            else:
                otype = int(spec["type"])
            out.append({"name": oname, "type": otype, "value": self._coerce(otype, value, resolved)})
        return out

    @staticmethod
    def _infer_type(value: Any) -> int:
        if isinstance(value, bool):
            return OPT_BOOLEAN
        if isinstance(value, int):
            return OPT_INTEGER
        if isinstance(value, float):
            return OPT_NUMBER
        if isinstance(value, FakeUser):
            return OPT_USER
        return OPT_STRING

    def _coerce(self, otype: int, value: Any, resolved: dict[str, dict[str, Any]]) -> Any:
        if otype == OPT_STRING:
            return str(value)
        if otype == OPT_INTEGER:
            return int(value)
        if otype == OPT_BOOLEAN:
            return bool(value)
        if otype == OPT_NUMBER:
            return value if isinstance(value, int | float) else float(value)
        if otype in (OPT_USER, OPT_MENTIONABLE):
            with contextlib.suppress(KeyError, ValueError, TypeError):
                u = self._resolve_user(value)
                resolved.setdefault("users", {})[str(u.id)] = u.payload()
                member = u.member_payload(with_user=False)
                member["permissions"] = str(self.permissions_for(u.role_ids))
                resolved.setdefault("members", {})[str(u.id)] = member
                return str(u.id)
        oid = int(getattr(value, "id", value))
        if otype == OPT_CHANNEL and oid in self.channels:
            ch = dict(self.channels[oid])
            ch["permissions"] = str(self.permissions_for(()))
            resolved.setdefault("channels", {})[str(oid)] = ch
        if otype in (OPT_ROLE, OPT_MENTIONABLE) and oid in self.roles:
            resolved.setdefault("roles", {})[str(oid)] = self.roles[oid]
        return str(oid)

    def _dm_channel(self, user: FakeUser) -> int:
        cid = self._dm_channels.get(user.id)
        if cid is None:
            cid = self.snowflake()
            self._dm_channels[user.id] = cid
            self.channels[cid] = {
                "id": str(cid),
                "type": CHANNEL_DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user.payload()],
            }
        return cid

    async def send_message(
        self,
        content: str,
        *,
        user: FakeUser | str | int | None = None,
        channel_id: int | None = None,
        mentions_bot: bool = False,
        reference_message_id: int | None = None,
        embeds: list[dict[str, Any]] | None = None,
        dm: bool = False,
    ) -> int:
        """A user posts a message (MESSAGE_CREATE). Returns its id.

        mentions_bot prefixes ``<@BOTID> `` (unless already there) and lists the bot
        in ``mentions``. channel_id may be a thread the bot created. dm sends it
        in the user's DM channel with the bot instead.
        """
        user_obj = self._resolve_user(user)
        if dm:
            channel_id = self._dm_channel(user_obj)
        channel_id = channel_id or self.channel_id
        ch = self._channel_or_404(channel_id)
        bot_mention = f"<@{self.bot_user_id}>"
        if mentions_bot and bot_mention not in content and f"<@!{self.bot_user_id}>" not in content:
            content = f"{bot_mention} {content}"
        mentioned = []
        for u in self._all_users():
            if f"<@{u.id}>" in content or f"<@!{u.id}>" in content:
                m = u.payload()
                if "guild_id" in ch:
                    m["member"] = u.member_payload(with_user=False)
                mentioned.append(m)
        msg = self._make_message(
            channel_id=channel_id,
            author=user_obj,
            data={"content": content, "embeds": embeds or []},
            reference_message_id=reference_message_id,
        )
        msg["mentions"] = mentioned
        self._touch_channel(channel_id, int(msg["id"]))
        self._notify()

        event = dict(msg)
        guild_id = self.guild_id if "guild_id" in ch else None
        conn = self._conn_for(guild_id)
        if conn is None:
            raise RuntimeError("cannot send MESSAGE_CREATE: the bot is not connected to the stand-in gateway")
        intents = conn.intents
        if intents is not None:
            needed = INTENT_GUILD_MESSAGES if guild_id else INTENT_DM_MESSAGES
            if not intents & needed:
                self.dropped_events.append(("MESSAGE_CREATE", "intent for guild/DM messages not requested"))
                return int(msg["id"])
            mentions_me = any(m["id"] == str(self.bot_user_id) for m in mentioned)
            if guild_id and not intents & INTENT_MESSAGE_CONTENT and not mentions_me:
                event.update({"content": "", "embeds": [], "attachments": [], "components": []})
        if guild_id:
            event["member"] = user_obj.member_payload(with_user=False)
        await conn.dispatch("MESSAGE_CREATE", event)
        return int(msg["id"])

    # ------------------------------------------------------------------ messages

    def _make_message(
        self,
        *,
        channel_id: int,
        author: FakeUser,
        data: dict[str, Any],
        files: list[dict[str, Any]] | None = None,
        flags: int = 0,
        msg_type: int = 0,
        interaction: SentInteraction | None = None,
        reference_message_id: int | None = None,
    ) -> dict[str, Any]:
        ch = self.channels[channel_id]
        mid = self.snowflake()
        msg: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": data.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(data.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments(channel_id, data, files or [], []),
            "embeds": list(data.get("embeds") or []),
            "reactions": [],
            "pinned": False,
            "type": msg_type,
            "flags": int(flags),
            "components": list(data.get("components") or []),
        }
        if "guild_id" in ch:
            msg["guild_id"] = ch["guild_id"]
        if data.get("nonce") is not None:
            msg["nonce"] = data["nonce"]
        if data.get("sticker_ids"):
            msg["sticker_items"] = []
        if interaction is not None:
            msg["webhook_id"] = str(self.application_id)
            msg["application_id"] = str(self.application_id)
        ref = data.get("message_reference")
        if reference_message_id is None and isinstance(ref, dict) and ref.get("message_id"):
            reference_message_id = int(ref["message_id"])
        if reference_message_id is not None:
            target = self.messages.get(reference_message_id)
            if target is None and not (isinstance(ref, dict) and ref.get("fail_if_not_exists") is False):
                raise StandInError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {"message_reference": {"_errors": [{"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}]}},
                )
            msg["type"] = 19 if msg_type == 0 else msg_type
            msg["message_reference"] = {
                "type": 0,
                "message_id": str(reference_message_id),
                "channel_id": target["channel_id"] if target else str(channel_id),
            }
            if "guild_id" in ch:
                msg["message_reference"]["guild_id"] = ch["guild_id"]
            if target is not None:
                referenced = {k: v for k, v in target.items() if k != "referenced_message"}
                msg["referenced_message"] = referenced
        self.messages[mid] = msg
        self._meta[mid] = {
            "author_id": author.id,
            "interaction_id": interaction.id if interaction else None,
            "deleted": False,
        }
        return msg

    def _attachments(
        self,
        channel_id: int,
        data: dict[str, Any],
        files: list[dict[str, Any]],
        existing: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        requested = data.get("attachments")
        if requested is not None:
            keep = {str(a.get("id")) for a in requested}
            out = [a for a in existing if a["id"] in keep]
        else:
            out = list(existing)
        for f in files:
            aid = self.snowflake()
            self.attachments[aid] = f["data"]
            url = f"{self.http_base}/attachments/{channel_id}/{aid}/{f['filename']}"
            out.append(
                {
                    "id": str(aid),
                    "filename": f["filename"],
                    "size": len(f["data"]),
                    "url": url,
                    "proxy_url": url,
                    "content_type": f.get("content_type") or "application/octet-stream",
                }
            )
        return out

    def _apply_edit(self, msg: dict[str, Any], data: dict[str, Any], files: list[dict[str, Any]]) -> None:
        for key in ("content", "embeds", "components"):
            if key in data:
                msg[key] = data[key] if data[key] is not None else ("" if key == "content" else [])
        if "flags" in data and data["flags"] is not None:
            # Only SUPPRESS_EMBEDS can be toggled by an edit; keep the rest.
            msg["flags"] = (msg["flags"] & ~4) | (int(data["flags"]) & 4)
        if files or "attachments" in data:
            msg["attachments"] = self._attachments(int(msg["channel_id"]), data, files, msg["attachments"])
        msg["flags"] &= ~FLAG_LOADING
        msg["edited_timestamp"] = _now_iso()

    def _validate(self, data: dict[str, Any], files: list[dict[str, Any]], *, creating: bool) -> None:
        if not self.validate_messages:
            return
        errors: dict[str, Any] = {}
        content = data.get("content") or ""
        if len(content) > 2000:
            errors["content"] = {
                "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]
            }
        embeds = data.get("embeds") or []
        if len(embeds) > 10:
            errors["embeds"] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}
        total = 0
        limits = {"title": 256, "description": 4096}
        for i, e in enumerate(embeds):
            problems: dict[str, Any] = {}
            for key, lim in limits.items():
                val = e.get(key) or ""
                total += len(val)
                if len(val) > lim:
                    problems[key] = f"Must be {lim} or fewer in length."
            fields = e.get("fields") or []
            if len(fields) > 25:
                problems["fields"] = "Must be 25 or fewer in length."
            for f in fields:
                total += len(f.get("name") or "") + len(f.get("value") or "")
                if len(f.get("name") or "") > 256 or len(f.get("value") or "") > 1024:
                    problems["fields"] = "field name <= 256 and value <= 1024"
                if not f.get("name") or not f.get("value"):
                    problems["fields"] = "field name and value are required"
            footer = (e.get("footer") or {}).get("text") or ""
            author = (e.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
            if len(footer) > 2048:
                problems["footer"] = "Must be 2048 or fewer in length."
            if len(author) > 256:
                problems["author"] = "Must be 256 or fewer in length."
            if problems:
                errors.setdefault("embeds", {})[str(i)] = problems
        if total > 6000:
            errors.setdefault("embeds", {})["_errors"] = [
                {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}
            ]
        if errors:
            raise StandInError(400, 50035, "Invalid Form Body", errors)
        if creating and not (
            content or embeds or files or data.get("sticker_ids") or data.get("components") or data.get("poll")
        ):
            raise StandInError(400, 50006, "Cannot send an empty message")

    def _record(
        self,
        kind: str,
        msg: dict[str, Any] | None,
        body: dict[str, Any] | None,
        *,
        channel_id: int | None = None,
        interaction: SentInteraction | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body = body or {}
        src = msg if msg is not None else body
        ref = (msg or {}).get("message_reference") or body.get("message_reference") or {}
        rec: dict[str, Any] = {
            "kind": kind,
            "channel_id": int(msg["channel_id"]) if msg is not None else channel_id,
            "content": src.get("content"),
            "embeds": src.get("embeds") or [],
            "components": src.get("components") or [],
            "attachments": [a.get("filename") for a in (src.get("attachments") or []) if isinstance(a, dict)],
            "allowed_mentions": body.get("allowed_mentions"),
            "flags": int(src.get("flags") or 0),
            "ephemeral": bool(int(src.get("flags") or 0) & FLAG_EPHEMERAL),
            "interaction_id": interaction.id if interaction else None,
            "message_id": int(msg["id"]) if msg is not None else None,
            "reference_message_id": int(ref["message_id"]) if ref.get("message_id") else None,
            "body": body,
            "index": len(self.sent),
            "at": time.monotonic(),
        }
        rec.update(extra)
        self.sent.append(rec)
        self._notify()
        return rec

    def _touch_channel(self, channel_id: int, message_id: int) -> None:
        ch = self.channels.get(channel_id)
        if ch is None:
            return
        ch["last_message_id"] = str(message_id)
        if ch["type"] in THREAD_TYPES:
            ch["message_count"] = ch.get("message_count", 0) + 1
            ch["total_message_sent"] = ch.get("total_message_sent", 0) + 1

    async def _echo(self, event: str, msg: dict[str, Any]) -> None:
        if not self.echo_bot_messages or msg["flags"] & FLAG_EPHEMERAL:
            return
        guild_id = int(msg["guild_id"]) if "guild_id" in msg else None
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if guild_id:
                data["guild_id"] = msg["guild_id"]
        else:
            data = dict(msg)
            if guild_id:
                data["member"] = self.bot_user.member_payload(with_user=False)
        await self.dispatch(event, data, guild_id=guild_id)

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> None:
        S = r"(?P<{}>\d+)"
        T = r"(?P<{}>[^/]+)"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/users/" + S.format("uid"), self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/applications/{}/commands".format(S.format("app")), self._list_commands),
            ("PUT", "/applications/{}/commands".format(S.format("app")), self._bulk_commands),
            ("POST", "/applications/{}/commands".format(S.format("app")), self._upsert_command),
            ("GET", "/applications/{}/commands/{}".format(S.format("app"), S.format("cmd")), self._get_command),
            ("PATCH", "/applications/{}/commands/{}".format(S.format("app"), S.format("cmd")), self._edit_command),
            ("DELETE", "/applications/{}/commands/{}".format(S.format("app"), S.format("cmd")), self._delete_command),
            ("GET", "/applications/{}/guilds/{}/commands/permissions".format(S.format("app"), S.format("gid")), self._empty_list),
            ("GET", "/applications/{}/guilds/{}/commands".format(S.format("app"), S.format("gid")), self._list_commands),
            ("PUT", "/applications/{}/guilds/{}/commands".format(S.format("app"), S.format("gid")), self._bulk_commands),
            ("POST", "/applications/{}/guilds/{}/commands".format(S.format("app"), S.format("gid")), self._upsert_command),
            ("GET", "/applications/{}/guilds/{}/commands/{}".format(S.format("app"), S.format("gid"), S.format("cmd")), self._get_command),
            ("PATCH", "/applications/{}/guilds/{}/commands/{}".format(S.format("app"), S.format("gid"), S.format("cmd")), self._edit_command),
            ("DELETE", "/applications/{}/guilds/{}/commands/{}".format(S.format("app"), S.format("gid"), S.format("cmd")), self._delete_command),
            ("POST", "/interactions/{}/{}/callback".format(S.format("iid"), T.format("token")), self._interaction_callback),
            ("POST", "/webhooks/{}/{}".format(S.format("app"), T.format("token")), self._webhook_execute),
            ("GET", "/webhooks/{}/{}/messages/{}".format(S.format("app"), T.format("token"), T.format("mid")), self._webhook_get),
            ("PATCH", "/webhooks/{}/{}/messages/{}".format(S.format("app"), T.format("token"), T.format("mid")), self._webhook_edit),
            ("DELETE", "/webhooks/{}/{}/messages/{}".format(S.format("app"), T.format("token"), T.format("mid")), self._webhook_delete),
            ("GET", "/channels/" + S.format("cid"), self._get_channel),
            ("GET", "/channels/{}/messages".format(S.format("cid")), self._list_messages),
            ("POST", "/channels/{}/messages".format(S.format("cid")), self._post_message),
            ("GET", "/channels/{}/messages/{}".format(S.format("cid"), S.format("mid")), self._get_message),
            ("PATCH", "/channels/{}/messages/{}".format(S.format("cid"), S.format("mid")), self._edit_message),
            ("DELETE", "/channels/{}/messages/{}".format(S.format("cid"), S.format("mid")), self._delete_message),
            ("POST", "/channels/{}/typing".format(S.format("cid")), self._typing),
            ("POST", "/channels/{}/messages/{}/threads".format(S.format("cid"), S.format("mid")), self._thread_from_message),
            ("POST", "/channels/{}/threads".format(S.format("cid")), self._thread_without_message),
            ("PUT", "/channels/{}/thread-members/@me".format(S.format("cid")), self._join_thread),
            ("DELETE", "/channels/{}/thread-members/@me".format(S.format("cid")), self._leave_thread),
            ("PUT", "/channels/{}/messages/{}/reactions/{}/@me".format(S.format("cid"), S.format("mid"), T.format("emoji")), self._add_reaction),
            ("DELETE", "/channels/{}/messages/{}/reactions/{}/@me".format(S.format("cid"), S.format("mid"), T.format("emoji")), self._remove_reaction),
            ("GET", "/guilds/" + S.format("gid"), self._get_guild),
            ("GET", "/guilds/{}/channels".format(S.format("gid")), self._get_guild_channels),
            ("GET", "/guilds/{}/roles".format(S.format("gid")), self._get_guild_roles),
            ("GET", "/guilds/{}/members/{}".format(S.format("gid"), S.format("uid")), self._get_member),
        ]
        self._routes = [(m, re.compile("^" + p + "$"), fn) for m, p, fn in table]

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        files: list[dict[str, Any]] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if part is None:
                    break
                if part.name == "payload_json":
                    body = json.loads(await part.text())
                elif part.filename:  # type: ignore[union-attr]
                    files.append(
                        {
                            "field": part.name,
                            "filename": part.filename,  # type: ignore[union-attr]
                            "data": bytes(await part.read()),  # type: ignore[union-attr]
                            "content_type": part.headers.get("Content-Type"),
                        }
                    )
            return body, files
        raw = await request.read()
        if not raw:
            return None, files
        try:
            return json.loads(raw), files
        except ValueError:
            return raw.decode("utf-8", "replace"), files

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        m = re.match(r"^/api/v\d+(/.*?)/?$", request.path)
        path = m.group(1) if m else request.path
        method = request.method
        try:
            body, files = await self._read_body(request)
        except Exception:
            self.errors.append(f"{method} {path}: unreadable body\n{traceback.format_exc()}")
            return _json_response({"message": "stand-in could not read the body", "code": 50109}, 400)
        rec = RecordedRequest(method, path, body)
        self.requests.append(rec)
        auth = request.headers.get("Authorization")
        self.request_log.append(
            {
                "method": method,
                "path": path,
                "json": body,
                "query": dict(request.query),
                "files": [f["filename"] for f in files],
                "authorization": auth,
            }
        )
        if auth is not None:
            self.rest_tokens.append(auth)
        self._notify()
        if self.expected_token is not None and auth is not None and auth != f"Bot {self.expected_token}":
            return _json_response({"message": "401: Unauthorized", "code": 0}, 401)

        path_known = False
        for route_method, rx, fn in self._routes:
            mm = rx.match(path)
            if mm is None:
                continue
            path_known = True
            if route_method != method:
                continue
            try:
                return await fn(request, body if body is not None else {}, files, **mm.groupdict())
            except StandInError as e:
                if e.status == 400 and e.code in (50035, 50006):
                    self.rejected.append({"method": method, "path": path, "error": e.message, "errors": e.errors, "body": body})
                    self._notify()
                return e.response()
            except Exception:
                # Not a 5xx: discord.py would retry those with sleeps.
                tb = traceback.format_exc()
                self.errors.append(f"{method} {path}:\n{tb}")
                self._notify()
                return _json_response({"message": f"stand-in handler crashed: {tb.splitlines()[-1]}", "code": 0}, 400)
            finally:
                self._notify()
        self.unknown.append(rec)
        self._notify()
        if path_known:
            return _json_response({"message": "405: Method Not Allowed", "code": 0}, 405)
        return _json_response({"message": "Unknown route", "code": 0}, 404)

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        data = self.attachments.get(int(request.match_info["aid"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data)

    # ------------------------------------------------------------------ REST: identity

    async def _get_me(self, request, body, files):
        return _json_response(self._me_payload())

    async def _get_user(self, request, body, files, uid):
        for u in self._all_users():
            if u.id == int(uid):
                return _json_response(u.payload())
        raise StandInError(404, 10013, "Unknown User")

    async def _create_dm(self, request, body, files):
        user = self._resolve_user(int(body["recipient_id"]))
        return _json_response(self.channels[self._dm_channel(user)])

    async def _get_application(self, request, body, files):
        return _json_response(self._application_payload())

    async def _get_gateway(self, request, body, files):
        return _json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request, body, files):
        return _json_response(
            {
                "url": self.gateway_url,
                "shards": self.shard_count,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    async def _empty_list(self, request, body, files, **kw):
        return _json_response([])

    # ------------------------------------------------------------------ REST: commands

    def _command_scope(self, app: str, gid: str | None) -> dict[tuple[str, int], dict[str, Any]]:
        if int(app) != self.application_id:
            raise StandInError(403, 50001, "Missing Access")
        if gid is None:
            return self.global_commands
        return self.guild_commands.setdefault(int(gid), {})

    def _store_command(
        self, scope: dict[tuple[str, int], dict[str, Any]], data: dict[str, Any], gid: str | None
    ) -> dict[str, Any]:
        ctype = int(data.get("type") or 1)
        key = (data["name"], ctype)
        existing = scope.get(key)
        cmd = {
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "dm_permission": True,
            "nsfw": False,
            **data,
        }
        cmd.update(
            {
                "id": existing["id"] if existing else str(self.snowflake()),
                "application_id": str(self.application_id),
                "type": ctype,
                "version": str(self.snowflake()),
            }
        )
        if gid is not None:
            cmd["guild_id"] = str(gid)
        scope[key] = cmd
        return cmd

    async def _list_commands(self, request, body, files, app, gid=None):
        return _json_response(list(self._command_scope(app, gid).values()))

    async def _bulk_commands(self, request, body, files, app, gid=None):
        scope = self._command_scope(app, gid)
        old = dict(scope)
        scope.clear()
        out = []
        for data in body or []:
            key = (data["name"], int(data.get("type") or 1))
            if key in old:
                scope[key] = old[key]  # keep the id, as Discord does
            out.append(self._store_command(scope, data, gid))
        return _json_response(out)

    async def _upsert_command(self, request, body, files, app, gid=None):
        return _json_response(self._store_command(self._command_scope(app, gid), body, gid), 201)

    def _find_command_by_id(self, app: str, gid: str | None, cmd: str) -> tuple[dict, tuple[str, int]]:
        scope = self._command_scope(app, gid)
        for key, c in scope.items():
            if c["id"] == str(cmd):
                return scope, key
        raise StandInError(404, 10063, "Unknown application command")

    async def _get_command(self, request, body, files, app, cmd, gid=None):
        scope, key = self._find_command_by_id(app, gid, cmd)
        return _json_response(scope[key])

    async def _edit_command(self, request, body, files, app, cmd, gid=None):
        scope, key = self._find_command_by_id(app, gid, cmd)
        merged = {**scope.pop(key), **body}
        return _json_response(self._store_command(scope, merged, gid))

    async def _delete_command(self, request, body, files, app, cmd, gid=None):
        scope, key = self._find_command_by_id(app, gid, cmd)
        del scope[key]
        return _no_content()

    # ------------------------------------------------------------------ REST: interactions

    async def _interaction_callback(self, request, body, files, iid, token):
        it = self._interactions_by_token.get(token)
        if it is None or it.id != int(iid):
            raise StandInError(404, 10062, "Unknown interaction")
        latency = asyncio.get_running_loop().time() - it.dispatched_at
        if it.callback is not None:
            raise StandInError(400, 40060, "Interaction has already been acknowledged.")
        if self.ack_deadline is not None and latency > self.ack_deadline:
            it.late = True
            raise StandInError(404, 10062, "Unknown interaction")
        ctype = int(body.get("type") or 0)
        data = body.get("data") or {}
        message = None
        if ctype == 4:
            self._validate(data, files, creating=True)
        it.callback = body
        it.callback_type = ctype
        it.acked_after = latency
        if ctype in (4, 5):
            eph = int(data.get("flags") or 0) & FLAG_EPHEMERAL
            if ctype == 4:
                flags = int(data.get("flags") or 0)
                msg_data = data
            else:
                flags = eph | FLAG_LOADING
                msg_data = {}
            message = self._make_message(
                channel_id=it.channel_id,
                author=self.bot_user,
                data=msg_data,
                files=files,
                flags=flags,
                msg_type=20,
                interaction=it,
            )
            it.original_message_id = int(message["id"])
            it.message_ids.append(int(message["id"]))
            self._touch_channel(it.channel_id, int(message["id"]))
            self._record("interaction_response", message, data, interaction=it, callback_type=ctype)
            await self._echo("MESSAGE_CREATE", message)
        else:
            # 6 deferred update, 7 update message, 8 autocomplete, 9 modal, ...
            self._record(
                "interaction_response", None, data, channel_id=it.channel_id, interaction=it, callback_type=ctype
            )
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return _no_content()
        out: dict[str, Any] = {
            "interaction": {
                "id": str(it.id),
                "type": 2,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(message and message["flags"] & FLAG_EPHEMERAL),
            },
            "resource": {"type": ctype},
        }
        if message is not None:
            out["interaction"]["response_message_id"] = message["id"]
            out["resource"]["message"] = message
        return _json_response(out)

    def _interaction_for_webhook(self, app: str, token: str) -> SentInteraction:
        it = self._interactions_by_token.get(token)
        if it is None or int(app) != self.application_id:
            raise StandInError(404, 10015, "Unknown Webhook")
        return it

    def _webhook_message(self, it: SentInteraction, mid: str) -> dict[str, Any]:
        if mid == "@original":
            if it.original_message_id is None:
                raise StandInError(404, 10008, "Unknown Message")
            message_id = it.original_message_id
        else:
            message_id = int(mid)
        if message_id not in it.message_ids or self.is_deleted(message_id):
            raise StandInError(404, 10008, "Unknown Message")
        return self.messages[message_id]

    async def _webhook_execute(self, request, body, files, app, token):
        it = self._interaction_for_webhook(app, token)
        if it.callback is None:
            raise StandInError(404, 10015, "Unknown Webhook")
        data = body or {}
        self._validate(data, files, creating=True)
        orig = it.original
        if orig is not None and orig["flags"] & FLAG_LOADING and not self.is_deleted(int(orig["id"])):
            # Discord: the first follow-up after a deferral replaces the "thinking" message,
            # keeping the ephemerality chosen at defer time.
            self._apply_edit(orig, {**data, "flags": None}, files)
            orig["edited_timestamp"] = None
            message = orig
            self._record("followup", message, data, interaction=it, replaced_deferred=True)
            await self._echo("MESSAGE_UPDATE", message)
        else:
            flags = int(data.get("flags") or 0)
            thread_id = request.query.get("thread_id")
            channel_id = int(thread_id) if thread_id else it.channel_id
            self._channel_or_404(channel_id)
            message = self._make_message(
                channel_id=channel_id,
                author=self.bot_user,
                data=data,
                files=files,
                flags=flags,
                msg_type=0,
                interaction=it,
            )
            it.message_ids.append(int(message["id"]))
            self._touch_channel(channel_id, int(message["id"]))
            self._record("followup", message, data, interaction=it, replaced_deferred=False)
            await self._echo("MESSAGE_CREATE", message)
        if request.query.get("wait", "").lower() in ("1", "true"):
            return _json_response(message)
        return _no_content()

    async def _webhook_get(self, request, body, files, app, token, mid):
        it = self._interaction_for_webhook(app, token)
        return _json_response(self._webhook_message(it, mid))

    async def _webhook_edit(self, request, body, files, app, token, mid):
        it = self._interaction_for_webhook(app, token)
        msg = self._webhook_message(it, mid)
        self._validate({**msg, **body}, files, creating=False)
        self._apply_edit(msg, body, files)
        self._record("edit", msg, body, interaction=it)
        await self._echo("MESSAGE_UPDATE", msg)
        return _json_response(msg)

    async def _webhook_delete(self, request, body, files, app, token, mid):
        it = self._interaction_for_webhook(app, token)
        msg = self._webhook_message(it, mid)
        self._meta[int(msg["id"])]["deleted"] = True
        self._record("delete", msg, body, interaction=it)
        await self._echo("MESSAGE_DELETE", msg)
        return _no_content()

    # ------------------------------------------------------------------ REST: channels

    async def _get_channel(self, request, body, files, cid):
        return _json_response(self._channel_or_404(int(cid)))

    async def _list_messages(self, request, body, files, cid):
        self._channel_or_404(int(cid))
        msgs = list(reversed(self.channel_history(int(cid))))  # newest first
        q = request.query
        if "before" in q:
            msgs = [m for m in msgs if int(m["id"]) < int(q["before"])]
        if "after" in q:
            msgs = [m for m in msgs if int(m["id"]) > int(q["after"])]
        if "around" in q:
            around = int(q["around"])
            msgs.sort(key=lambda m: abs(int(m["id"]) - around))
        limit = max(1, min(100, int(q.get("limit", 50))))
        return _json_response(msgs[:limit])

    async def _post_message(self, request, body, files, cid):
        channel_id = int(cid)
        self._channel_or_404(channel_id)
        self._validate(body, files, creating=True)
        flags = int(body.get("flags") or 0) & ~FLAG_EPHEMERAL
        msg = self._make_message(channel_id=channel_id, author=self.bot_user, data=body, files=files, flags=flags)
        self._touch_channel(channel_id, int(msg["id"]))
        self._record("channel_message", msg, body)
        await self._echo("MESSAGE_CREATE", msg)
        return _json_response(msg)

    def _channel_message(self, cid: str, mid: str) -> dict[str, Any]:
        self._channel_or_404(int(cid))
        msg = self.messages.get(int(mid))
        if msg is None or msg["channel_id"] != str(cid) or self.is_deleted(int(mid)) or msg["flags"] & FLAG_EPHEMERAL:
            raise StandInError(404, 10008, "Unknown Message")
        return msg

    async def _get_message(self, request, body, files, cid, mid):
        return _json_response(self._channel_message(cid, mid))

    async def _edit_message(self, request, body, files, cid, mid):
        msg = self._channel_message(cid, mid)
        if self._meta[int(mid)]["author_id"] != self.bot_user_id:
            raise StandInError(403, 50005, "Cannot edit a message authored by another user")
        self._validate({**msg, **body}, files, creating=False)
        self._apply_edit(msg, body, files)
        self._record("edit", msg, body)
        await self._echo("MESSAGE_UPDATE", msg)
        return _json_response(msg)

    async def _delete_message(self, request, body, files, cid, mid):
        msg = self._channel_message(cid, mid)
        self._meta[int(mid)]["deleted"] = True
        self._record("delete", msg, body)
        await self._echo("MESSAGE_DELETE", msg)
        return _no_content()

    async def _typing(self, request, body, files, cid):
        self._channel_or_404(int(cid))
        self.typing.append(int(cid))
        return _no_content()

    def _new_thread(self, parent_id: int, thread_id: int, body: dict[str, Any], ttype: int) -> dict[str, Any]:
        now = _now_iso()
        thread = {
            "id": str(thread_id),
            "type": ttype,
            "guild_id": str(self.guild_id),
            "parent_id": str(parent_id),
            "owner_id": str(self.bot_user_id),
            "name": body.get("name") or "thread",
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration") or 1440,
                "archive_timestamp": now,
                "locked": False,
                "invitable": body.get("invitable", True) if ttype == CHANNEL_PRIVATE_THREAD else True,
                "create_timestamp": now,
            },
        }
        self.channels[thread_id] = thread
        self.threads[thread_id] = thread
        self._meta[thread_id] = {"bot_joined": True}
        return thread

    async def _announce_thread(self, thread: dict[str, Any]) -> dict[str, Any]:
        # THREAD_CREATE before the REST answer, so discord.py has the thread cached
        # by the time the bot sends into it or a user posts in it.
        event = self._thread_with_member(thread)
        event["newly_created"] = True
        await self.dispatch("THREAD_CREATE", event, guild_id=self.guild_id)
        self._notify()
        return self._thread_with_member(thread)

    async def _thread_from_message(self, request, body, files, cid, mid):
        parent = self._channel_or_404(int(cid))
        if parent["type"] != CHANNEL_TEXT or "guild_id" not in parent:
            raise StandInError(400, 50024, "Cannot execute action on this channel type")
        starter = self._channel_message(cid, mid)
        if int(mid) in self.channels:
            raise StandInError(400, 160004, "A thread has already been created for this message")
        thread = self._new_thread(int(cid), int(mid), body, CHANNEL_PUBLIC_THREAD)
        starter["flags"] |= FLAG_HAS_THREAD
        starter["thread"] = dict(thread)
        return _json_response(await self._announce_thread(thread), 201)

    async def _thread_without_message(self, request, body, files, cid):
        parent = self._channel_or_404(int(cid))
        if parent["type"] != CHANNEL_TEXT or "guild_id" not in parent:
            raise StandInError(400, 50024, "Cannot execute action on this channel type")
        ttype = int(body.get("type") or CHANNEL_PRIVATE_THREAD)
        thread = self._new_thread(int(cid), self.snowflake(), body, ttype)
        return _json_response(await self._announce_thread(thread), 201)

    async def _join_thread(self, request, body, files, cid):
        ch = self._channel_or_404(int(cid))
        if ch["type"] not in THREAD_TYPES:
            raise StandInError(400, 50024, "Cannot execute action on this channel type")
        self._meta.setdefault(int(cid), {})["bot_joined"] = True
        return _no_content()

    async def _leave_thread(self, request, body, files, cid):
        self._channel_or_404(int(cid))
        self._meta.setdefault(int(cid), {})["bot_joined"] = False
        return _no_content()

    async def _add_reaction(self, request, body, files, cid, mid, emoji):
        self._channel_message(cid, mid)
        self.reactions.append(("add", int(cid), int(mid), emoji))
        return _no_content()

    async def _remove_reaction(self, request, body, files, cid, mid, emoji):
        self._channel_message(cid, mid)
        self.reactions.append(("remove", int(cid), int(mid), emoji))
        return _no_content()

    # ------------------------------------------------------------------ REST: guild

    def _check_guild(self, gid: str) -> None:
        if int(gid) != self.guild_id:
            raise StandInError(404, 10004, "Unknown Guild")

    async def _get_guild(self, request, body, files, gid):
        self._check_guild(gid)
        data = self.guild_payload()
        for key in ("members", "channels", "threads", "voice_states", "presences", "joined_at", "large", "unavailable"):
            data.pop(key, None)
        return _json_response(data)

    async def _get_guild_channels(self, request, body, files, gid):
        self._check_guild(gid)
        return _json_response([c for c in self.channels.values() if c.get("guild_id") and c["type"] not in THREAD_TYPES])

    async def _get_guild_roles(self, request, body, files, gid):
        self._check_guild(gid)
        return _json_response(list(self.roles.values()))

    async def _get_member(self, request, body, files, gid, uid):
        self._check_guild(gid)
        for u in self._all_users():
            if u.id == int(uid):
                return _json_response(u.member_payload())
        raise StandInError(404, 10007, "Unknown Member")
