"""newsbot's errors. Every message is one sentence fit to show a user.

    NewsbotError
     ├── SourceError        a source could not be read (names the source and the reason)
     ├── UnknownSource      no source by that name
     ├── ConfigError        a setting is missing or wrong
     ├── DiskFull           the data directory ran out of space (nothing half-written stays)
     ├── IndexInUse         another process holds the embedded index
     └── IndexUnavailable   a server the index lives on (PostgreSQL, Chroma) cannot be reached
"""

from __future__ import annotations

import errno
import sqlite3


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


class DiskFull(NewsbotError):
    def __init__(self, data_dir: object) -> None:
        self.data_dir = data_dir
        super().__init__(f"disk full: no space left for the index in {data_dir}; this change "
                         "was not saved and the index answers as before (free some space and "
                         "run it again)")


class IndexInUse(NewsbotError):
    def __init__(self, data_dir: object, holder: str) -> None:
        super().__init__(
            f"the index in {data_dir} is open in another newsbot process ({holder}); the "
            "embedded store serves one process at a time: stop that process, or run a Chroma "
            "server and set CHROMA_HOST so that several processes can share the index")


class IndexUnavailable(NewsbotError):
    """A server holding the index is down or restarting. The message names the server (never its
    password); users of the bot see `USER_MESSAGE` instead. The next call tries again."""

    USER_MESSAGE = "The news index is unavailable, try again shortly."

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = " ".join(reason.split())[:200]
        super().__init__(f"{server} is unavailable ({self.reason}); the news index answers again "
                         "once it is back")


_FULL = ("disk is full", "no space left", "os error 28", "database or disk is full",
         "quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error (or one it was raised from) means the disk or quota ran out: OSError
    ENOSPC/EDQUOT, SQLite's SQLITE_FULL, or Chroma's wrapping of either."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if (isinstance(e, sqlite3.DatabaseError | OSError) or type(e).__module__.startswith(
                "chromadb")) and any(m in str(e).lower() for m in _FULL):
            return True
        e = e.__cause__ or e.__context__
    return False
