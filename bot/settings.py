"""The bot's settings from the environment and `.env` (see .env.example)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _int_list(v: object) -> object:
    """ "1, 2,3" from the environment; a list as it is."""
    if isinstance(v, str):
        return [int(x) for x in v.replace(" ", "").split(",") if x]
    return v


class BotSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Required to go online; `make run` without it opens the terminal session instead.
    discord_token: SecretStr | None = None
    # Role ids whose members may add sources and reindex (besides Manage Server).
    admin_role_ids: Annotated[list[int], NoDecode] = []
    dev_guild_id: int | None = None
    refresh_minutes: float = 60
    digest_channel_id: int | None = None
    digest_hour_utc: int = 8
    # Where to find Discord: a REST proxy, a gateway proxy, or the tests' stand-in.
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    shard_count: int | None = None
    shard_ids: Annotated[list[int], NoDecode] = []
    ask_cooldown_seconds: float = 10.0
    ask_cooldown_uses: int = 3
    # An interaction's token lasts 15 minutes; admin work still running after this many seconds
    # reports in a channel message instead of the expiring reply.
    interaction_reply_seconds: float = 14 * 60
    # After the bot leaves a server, its sources and settings are kept this many days (in case
    # it is added back), then dropped with the articles no other server holds.
    server_grace_days: float = 7.0

    @field_validator("dev_guild_id", "digest_channel_id", "shard_count", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("admin_role_ids", "shard_ids", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        return _int_list(v)


@dataclass
class GuildConfig:
    """One server's settings: what its admins set with /settings over the deployment's
    defaults from the environment. Stored in the index, so every bot process sees them."""

    digest_channel_id: int | None = None
    digest_hour_utc: int = 8
    admin_role_ids: list[int] = field(default_factory=list)
    mentions: bool = True  # answer questions that mention the bot or reply to it
    threads: bool = True  # open a thread per question and answer follow-ups in it
    ask_cooldown_uses: int = 3
    ask_cooldown_seconds: float = 10.0

    KEYS = ("digest_channel_id", "digest_hour_utc", "admin_role_ids", "mentions", "threads",
            "ask_cooldown_uses", "ask_cooldown_seconds")

    @classmethod
    def of(cls, defaults: BotSettings, stored: dict[str, Any]) -> GuildConfig:
        base = cls(digest_channel_id=defaults.digest_channel_id,
                   digest_hour_utc=defaults.digest_hour_utc,
                   admin_role_ids=list(defaults.admin_role_ids),
                   ask_cooldown_uses=defaults.ask_cooldown_uses,
                   ask_cooldown_seconds=defaults.ask_cooldown_seconds)
        known = {k: v for k, v in stored.items() if k in cls.KEYS}
        return cls(**{**asdict(base), **known})
