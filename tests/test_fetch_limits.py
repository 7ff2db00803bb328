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


def test_dns_rebinding_cannot_reach_a_private_address(drip, monkeypatch):
    """The host resolves to a public address when checked and to 127.0.0.1 afterwards: the
    connection must go to the address that was checked, never the second answer."""
    import socket

    import httpcore

    port = int(drip.rsplit(":", 1)[1])
    real_getaddrinfo = socket.getaddrinfo
    answers = iter([[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]])

    def rebinding(host, *args, **kwargs):
        if host == "localhost":
            return next(answers, None) or real_getaddrinfo(host, *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    real_connect = httpcore.SyncBackend.connect_tcp
    contacted: list[str] = []

    def connect(self, host, port, *args, **kwargs):
        contacted.append(host)
        if host in ("localhost", "127.0.0.1", "::1"):
            return real_connect(self, host, port, *args, **kwargs)
        raise httpcore.ConnectError(f"the test contacts no address outside this machine ({host})")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect)
    fetcher = Fetcher(timeout=3)
    with pytest.raises(SourceError, match="could not fetch"):
        fetcher.fetch(f"http://localhost:{port}/feed.xml", "rebind")
    assert contacted == ["93.184.216.34"]


@pytest.mark.parametrize(("address", "public"), [
    ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
    ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
    ("::ffff:192.168.1.1", False),  # IPv4-mapped
    ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
    ("64:ff9b::808:808", True),  # NAT64 of a public address
    ("93.184.216.34", True),
])
def test_private_addresses_wrapped_in_ipv6_are_refused(address, public, monkeypatch):
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [
        (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "",
         (address, 80))])
    fetcher = Fetcher(timeout=1)
    if public:
        fetcher._check_url("http://news.example/", "wrapped", {})
    else:
        with pytest.raises(SourceError, match="refusing to fetch"):
            fetcher._check_url("http://news.example/", "wrapped", {})
