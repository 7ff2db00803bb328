"""/settings: a server's admins set how newsbot behaves in their server, and only there."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import NewsBot, admin_only, send_ephemeral
from bot.settings import GuildConfig


def describe(cfg: GuildConfig) -> str:
    digest = (f"<#{cfg.digest_channel_id}> at {cfg.digest_hour_utc:02d}:00 UTC"
              if cfg.digest_channel_id else "off")
    roles = ", ".join(f"<@&{r}>" for r in cfg.admin_role_ids) or "none (Manage Server only)"
    return "\n".join([
        f"**Daily digest:** {digest}",
        f"**Admin roles:** {roles}",
        f"**Questions by mention or reply:** {'on' if cfg.mentions else 'off'}",
        f"**A thread per question, with follow-ups:** {'on' if cfg.threads else 'off'}",
        f"**Question limit:** {cfg.ask_cooldown_uses} per {cfg.ask_cooldown_seconds:g} seconds "
        "per member",
    ])


class Settings(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="settings")
    @app_commands.describe(
        digest_channel="Post the daily digest of this server's news here",
        digest_hour="The hour (UTC, 0-23) of the daily digest",
        digest_off="Stop the daily digest",
        add_admin_role="Members with this role may manage sources and settings",
        remove_admin_role="Take that right from this role",
        mentions="Answer questions that mention the bot or reply to it",
        threads="Open a thread per question and answer follow-ups in it",
        cooldown_uses="Questions a member may ask per cooldown period",
        cooldown_seconds="The cooldown period in seconds",
        reset="Go back to the deployment's defaults",
    )
    @app_commands.guild_only()
    @admin_only()
    async def settings(
        self, interaction: discord.Interaction,
        digest_channel: discord.TextChannel | None = None,
        digest_hour: app_commands.Range[int, 0, 23] | None = None,
        digest_off: bool | None = None,
        add_admin_role: discord.Role | None = None,
        remove_admin_role: discord.Role | None = None,
        mentions: bool | None = None,
        threads: bool | None = None,
        cooldown_uses: app_commands.Range[int, 1, 50] | None = None,
        cooldown_seconds: app_commands.Range[float, 0, 3600] | None = None,
        reset: bool | None = None,
    ) -> None:
        """Show or change how newsbot behaves in this server (admins)."""
        guild_id = interaction.guild_id
        assert guild_id is not None
        cfg = self.bot.config(guild_id)
        changes: dict[str, Any] = {}
        if reset:
            changes = dict.fromkeys(GuildConfig.KEYS)
        if digest_channel is not None:
            changes["digest_channel_id"] = digest_channel.id
        if digest_off:
            changes["digest_channel_id"] = 0  # off, whatever the deployment's default
        if digest_hour is not None:
            changes["digest_hour_utc"] = digest_hour
        roles = list(cfg.admin_role_ids)
        if add_admin_role is not None and add_admin_role.id not in roles:
            roles.append(add_admin_role.id)
        if remove_admin_role is not None and remove_admin_role.id in roles:
            roles.remove(remove_admin_role.id)
        if roles != cfg.admin_role_ids:
            changes["admin_role_ids"] = roles
        for key, value in (("mentions", mentions), ("threads", threads),
                           ("ask_cooldown_uses", cooldown_uses),
                           ("ask_cooldown_seconds", cooldown_seconds)):
            if value is not None:
                changes[key] = value
        if changes:
            cfg = await self.bot.set_config(guild_id, changes)
        head = "Settings saved." if changes else "This server's settings:"
        await send_ephemeral(interaction, f"{head}\n{describe(cfg)}")


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Settings(bot))
