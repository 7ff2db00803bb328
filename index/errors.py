"""newsbot's errors. Every message is one sentence fit to show a user.

    NewsbotError
     ├── SourceError        a source could not be read (names the source and the reason)
     ├── UnknownSource      no source by that name
     └── ConfigError        a setting is missing or wrong
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Base class; str(error) is a one-line message for users."""


class SourceError(NewsbotError):
    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class UnknownSource(NewsbotError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no source named {name!r}")


class ConfigError(NewsbotError):
    pass
