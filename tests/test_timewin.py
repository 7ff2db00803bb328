from datetime import UTC, datetime

from index.timewin import time_window

NOW = datetime(2020, 2, 12, 15, 30, tzinfo=UTC)  # a Wednesday


def test_relative_windows_filter():
    w = time_window("What happened this week?", NOW)
    assert w.filters and w.since == datetime(2020, 2, 10, tzinfo=UTC) and w.label == "this week"
    w = time_window("Any news from yesterday?", NOW)
    assert (w.since, w.until) == (datetime(2020, 2, 11, tzinfo=UTC), datetime(2020, 2, 12, tzinfo=UTC))
    w = time_window("What did the council decide last week?", NOW)
    assert (w.since, w.until) == (datetime(2020, 2, 3, tzinfo=UTC), datetime(2020, 2, 10, tzinfo=UTC))
    w = time_window("Storms in the past week in this region?", NOW)
    assert w.label == "the past week" and w.since == datetime(2020, 2, 5, tzinfo=UTC)


def test_named_years_and_months_prefer_rather_than_filter():
    w = time_window("What did the port handle in 2019?", NOW)
    assert not w.filters and w.since == datetime(2019, 1, 1, tzinfo=UTC) and w.label == "2019"
    w = time_window("Floods in February 2020?", NOW)
    assert not w.filters and (w.since, w.until) == (datetime(2020, 2, 1, tzinfo=UTC),
                                                    datetime(2020, 3, 1, tzinfo=UTC))


def test_latest_prefers_recent_but_new_york_does_not():
    assert time_window("What is the latest on Idlib?", NOW).prefer_recent
    assert not time_window("What happened in New York?", NOW).prefer_recent
    assert not time_window("Who won the cup final?", NOW).filters
