"""The bot's settings from the environment and `.env` (see .env.example)."""

from __future__ import annotations

from typing import Annotated

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

    @field_validator("dev_guild_id", "digest_channel_id", "shard_count", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("admin_role_ids", "shard_ids", mode="before")
    @classmethod
    def _comma_list(cls, v: object) -> object:
        return _int_list(v)
