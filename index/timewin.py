"""Read the time a question names: "yesterday", "this week", "in 2019", "latest"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from index.text import MONTHS as _MONTHS


@dataclass(frozen=True)
class TimeWindow:
    since: datetime | None = None
    until: datetime | None = None
    prefer_recent: bool = False
    label: str = ""
    # Relative times ("this week") filter; a named year or month only prefers, since "traffic in
    # 2019" is often reported in a 2020 article and the year itself must then appear in the text.
    hard: bool = True

    @property
    def filters(self) -> bool:
        return self.hard and (self.since is not None or self.until is not None)


def _day(dt: datetime) -> datetime:
    return dt.replace(hour=0, minute=0, second=0, microsecond=0)


def time_window(question: str, now: datetime | None = None) -> TimeWindow:
    q = question.lower()
    now = now or datetime.now(UTC)
    today = _day(now)
    recent = bool(re.search(r"\b(latest|newest|most recent|recent(ly)?|current(ly)?|right now|"
                            r"new developments?|news today)\b", q))
    if re.search(r"\btoday\b", q):
        return TimeWindow(today, None, True, "today")
    if re.search(r"\byesterday\b", q):
        return TimeWindow(today - timedelta(days=1), today, True, "yesterday")
    m = re.search(r"\b(this|past) week\b", q)
    if m:
        if m.group(1) == "this":
            return TimeWindow(today - timedelta(days=today.weekday()), None, True, "this week")
        return TimeWindow(today - timedelta(days=7), None, True, "the past week")
    if re.search(r"\blast week\b", q):
        start = today - timedelta(days=today.weekday() + 7)
        return TimeWindow(start, start + timedelta(days=7), True, "last week")
    m = re.search(r"\b(this|past) month\b", q)
    if m:
        if m.group(1) == "this":
            return TimeWindow(today.replace(day=1), None, True, "this month")
        return TimeWindow(today - timedelta(days=30), None, True, "the past month")
    if re.search(r"\bthis year\b", q):
        return TimeWindow(today.replace(month=1, day=1), None, True, "this year")
    m = re.search(r"\b(?:in|during|of)\s+(" + "|".join(_MONTHS) + r")\s+((?:19|20)\d\d)\b", q)
    if m:
        month = _MONTHS.index(m.group(1)) + 1
        year = int(m.group(2))
        since = datetime(year, month, 1, tzinfo=UTC)
        until = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
        return TimeWindow(since, until, recent, f"{m.group(1).title()} {year}", hard=False)
    m = re.search(r"\b(?:in|during|of|since)\s+((?:19|20)\d\d)\b", q)
    if m:
        year = int(m.group(1))
        if re.search(r"\bsince\s+" + m.group(1), q):
            return TimeWindow(datetime(year, 1, 1, tzinfo=UTC), None, recent, f"since {year}")
        return TimeWindow(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC),
                          recent, str(year), hard=False)
    return TimeWindow(prefer_recent=recent)
