"""Bot settings from the environment and `.env` (see .env.example)."""

from __future__ import annotations

from pydantic import SecretStr, field_validator

from index.config import IndexSettings


class BotSettings(IndexSettings):
    # Required to go online; `make run` without it opens the terminal session instead.
    discord_token: SecretStr | None = None
    # Comma-separated role ids whose members may add sources and reindex (besides Manage Server).
    admin_role_ids: str = ""
    dev_guild_id: int | None = None
    refresh_minutes: float = 60
    digest_channel_id: int | None = None
    digest_hour_utc: int = 8
    # Where to find Discord: a REST proxy, a gateway proxy, or the tests' stand-in.
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    shard_count: int | None = None
    shard_ids: str = ""
    ask_cooldown_seconds: float = 10.0
    ask_cooldown_uses: int = 3

    @field_validator("dev_guild_id", "digest_channel_id", "shard_count", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @property
    def admin_roles(self) -> set[int]:
        return {int(x) for x in self.admin_role_ids.replace(" ", "").split(",") if x}

    @property
    def shards(self) -> list[int] | None:
        ids = [int(x) for x in self.shard_ids.replace(" ", "").split(",") if x]
        return ids or None
