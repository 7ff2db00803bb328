"""Fetches bounded as a whole, against a server on 127.0.0.1 that drips its answer."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from index.errors import SourceError
from index.sources import Fetcher, read_source

ITEMS = 30


class _Drip(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/feed.xml":
            items = "".join(
                f"<item><title>Story {i}</title><link>http://{self.headers['Host']}/drip/{i}"
                f"</link><description>Short summary {i} of a story.</description></item>"
                for i in range(ITEMS))
            body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Drip</title>'
                    f"{items}</channel></rss>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        try:  # one byte every 0.3 s: each read is quick, the whole never ends
            for _ in range(200):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.3)
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def drip():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_dripping_server_cannot_hold_a_fetch_past_its_timeout(drip):
    fetcher = Fetcher(timeout=1.5, allow_private=True)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"drip/1 took longer than 1.5s") as info:
        fetcher.fetch(f"{drip}/drip/1", "slow")
    assert time.monotonic() - started < 6  # not the 60 s the server would take
    assert "\n" not in str(info.value)


def test_a_feed_of_slow_links_is_read_within_its_budget(drip):
    fetcher = Fetcher(timeout=1.0, allow_private=True, item_workers=4, source_budget=2.0)
    started = time.monotonic()
    result = read_source(f"{drip}/feed.xml", "drip", fetcher)
    elapsed = time.monotonic() - started
    assert elapsed < 10  # one by one, 30 items of 1 s each would take 30 s
    assert len(result.articles) == ITEMS  # every item keeps its summary
    assert result.articles[0].text == "Short summary 0 of a story."
    assert any("took longer than 1s" in p for p in result.problems)
    assert any("budget ran out" in p for p in result.problems)
