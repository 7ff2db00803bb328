"""Every kind of bad input: a one-line error naming the source and the reason, recorded in the
source list, and nothing already indexed lost."""

from __future__ import annotations

import http.server
import socket
import threading
import typing
from pathlib import Path

import pytest

from index.errors import SourceError
from tests.conftest import BACKENDS, DEMO, make_engine
from tests.fakes import FakeEmbedder


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: typing.ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self):
        status, ctype, body = self.routes.get(self.path, (404, "text/plain", b"not here"))
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", ctype)
        else:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def web():
    """A small web server on 127.0.0.1 with feeds and pages, good and bad."""
    _Handler.routes = {
        "/feed.xml": (200, "application/rss+xml", (DEMO / "feed.xml").read_bytes()),
        "/page.html": (200, "text/html; charset=utf-8", (DEMO / "page.html").read_bytes()),
        "/broken.xml": (200, "application/rss+xml", b"<?xml version='1.0'?><rss><channel><item>"),
        "/nothing.html": (200, "text/html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>"),
        "/binary": (200, "application/octet-stream", bytes(range(256)) * 40),
        "/hop": (302, "/page.html", b""),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(params=BACKENDS)
def store_backend(request) -> str:
    return str(request.param)


@pytest.fixture
def engine(tmp_path, database_url):
    e = make_engine(tmp_path / "data", FakeEmbedder(), allow_private=True,
                    database_url=database_url)
    e.add_source(str(DEMO / "articles.jsonl"), "demo")
    yield e
    e.close()


def _snapshot(engine):
    store = engine.store
    return sorted(store.all_passage_ids()), sorted(store.all_vector_ids())


def _bad(engine, location: str, name: str, reason: str) -> str:
    before = _snapshot(engine)
    with pytest.raises(SourceError) as info:
        engine.add_source(location, name)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(name), msg
    assert reason in msg, msg
    listed = {s.name: s for s in engine.list_sources()}
    assert reason in (listed[name].last_error or "")
    assert _snapshot(engine) == before, "a bad source changed what was indexed"
    assert engine.search("Schiphol flights Storm Ciara", k=1)[0].article.id == "demo-storm-ciara-schiphol"
    return msg


def test_empty_file(engine, tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("")
    _bad(engine, str(p), "empty", "file is empty")


def test_binary_file(engine, tmp_path):
    p = tmp_path / "photo.txt"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    _bad(engine, str(p), "binary", "binary file")


def test_non_utf8_file(engine, tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("Caf\xe9 owners protest\n\nThe caf\xe9 closed.".encode("latin-1"))
    _bad(engine, str(p), "latin1", "not UTF-8")


def test_gigantic_file_is_refused_without_reading_it(engine, tmp_path):
    p = tmp_path / "huge.jsonl"
    with open(p, "wb") as f:
        f.truncate(50_000_000)
    _bad(engine, str(p), "huge", "50.0 MB, over the 20 MB limit")


def test_malformed_feed_file(engine, tmp_path):
    p = tmp_path / "broken.xml"
    p.write_text("<?xml version='1.0'?><rss><channel><title>x</title><item><title>unclosed")
    _bad(engine, str(p), "broken-feed", "not a valid RSS/Atom feed")


def test_malformed_feed_url(engine, web):
    _bad(engine, f"{web}/broken.xml", "broken-url", "not a valid RSS/Atom feed")


def test_page_with_no_article(engine, web):
    _bad(engine, f"{web}/nothing.html", "nav-only", "no article text found")


def test_binary_url(engine, web):
    _bad(engine, f"{web}/binary", "binary-url", "binary file")


def test_url_404(engine, web):
    _bad(engine, f"{web}/gone", "gone", "HTTP 404")


def test_url_that_does_not_answer(engine):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never replies
    engine.fetcher.timeout = 1.0
    try:
        _bad(engine, f"http://127.0.0.1:{silent.getsockname()[1]}/news", "silent", "no answer")
    finally:
        silent.close()


def test_url_nobody_listens_on(engine):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    _bad(engine, f"http://127.0.0.1:{port}/", "refused", "could not fetch")


def test_jsonl_with_some_bad_lines_keeps_the_good_ones(engine, tmp_path):
    p = tmp_path / "mixed.jsonl"
    p.write_text('{"title": "Good one", "text": "A real story about the harbour."}\n'
                 "{not json\n"
                 '{"title": "No text"}\n')
    report = engine.add_source(str(p), "mixed")
    assert report.articles == 1
    listed = {s.name: s for s in engine.list_sources()}
    assert "mixed line 2: not JSON" in listed["mixed"].last_error
    assert "1 more bad lines" in listed["mixed"].last_error


def test_failing_source_does_not_stop_the_others(engine, tmp_path):
    good = tmp_path / "good.md"
    good.write_text("# Ferry strike ends\n\nThe ferry crews returned to work on Monday.\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("temporary")
    engine.add_source(str(good), "good")
    engine.add_source(str(bad), "bad")
    bad.write_bytes(b"\x00\x01")
    good.write_text("# Ferry strike ends\n\nThe ferry crews returned to work on Tuesday.\n")
    reports = {r.source: r for r in engine.refresh()}
    assert "binary file" in reports["bad"].error
    assert reports["good"].error is None and reports["good"].updated == 1
    assert reports["demo"].unchanged == 8
    hits = engine.search("ferry crews returned to work", k=1)
    assert "Tuesday" in hits[0].passage.text


class TestSSRF:
    """Admin-supplied URLs must not reach the machine's own or private network."""

    @pytest.fixture
    def guarded(self, tmp_path):
        e = make_engine(tmp_path / "g", FakeEmbedder(), allow_private=False)
        yield e
        e.close()

    @pytest.mark.parametrize("url", [
        "http://127.0.0.1:9/feed.xml",
        "http://localhost/feed.xml",
        "http://[::1]/",
        "http://10.1.2.3/rss",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
    ])
    def test_private_addresses_are_refused(self, guarded, url):
        with pytest.raises(SourceError, match="private, loopback or link-local"):
            guarded.add_source(url, "x")
        assert "NEWSBOT_ALLOW_PRIVATE_URLS" in guarded.list_sources()[0].last_error

    def test_a_redirect_to_a_private_address_is_refused(self, guarded, web):
        # the first hop is checked like every other one: loopback itself is refused here
        with pytest.raises(SourceError, match="private"):
            guarded.add_source(f"{web}/hop", "hop")

    def test_not_http(self, guarded):
        with pytest.raises(SourceError, match="no such file"):
            guarded.add_source("file:///etc/passwd", "passwd")


def test_feed_and_page_over_http(engine, web):
    feed = engine.add_source(f"{web}/feed.xml", "gazette")
    assert feed.articles == 3 and feed.error is None
    page = engine.add_source(f"{web}/page.html", "courier-page")
    assert page.articles == 1
    [art] = engine.store.get_articles(engine.store.source_article_ids("courier-page")).values()
    assert art.url == f"{web}/page.html"
    assert "seal" in art.text.lower()
    # the cookie notice and navigation are not part of the article
    assert "cookie" not in art.text.lower()
    redirected = engine.add_source(f"{web}/hop", "hop")
    assert redirected.duplicates == 0 and redirected.articles == 1


def test_same_story_from_two_feeds_is_stored_once(engine, tmp_path):
    feed = (DEMO / "feed.xml").read_text()
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(feed)
    # the second feed carries the same stories under other links (same text)
    b.write_text(feed.replace("https://", "https://mirror.").replace("Harbour Gazette", "Mirror"))
    ra = engine.add_source(str(a), "feed-a")
    rb = engine.add_source(str(b), "feed-b")
    assert ra.new == 3
    assert rb.new == 0 and rb.duplicates == 3 and rb.embedded == 0
    listed = {s.name: s for s in engine.list_sources()}
    assert listed["feed-b"].articles == 3
    # removing one feed keeps the stories the other still carries
    engine.remove_source("feed-a")
    assert len(engine.store.source_article_ids("feed-b")) == 3
    assert engine.search("flood barrier", k=1)


def test_readding_a_source_refreshes_it_and_names_must_be_unique(engine, tmp_path):
    report = engine.add_source(str(DEMO / "articles.jsonl"))
    assert report.source == "demo" and report.unchanged == 8 and report.embedded == 0
    other = tmp_path / "other.md"
    other.write_text("# T\n\nSome text here.\n")
    with pytest.raises(SourceError, match="already exists"):
        engine.add_source(str(other), "demo")


def test_missing_path(engine, tmp_path):
    _bad(engine, str(tmp_path / "nope.jsonl"), "nope", "no such file or folder")


def test_folder_with_one_bad_file(engine, tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "a.md").write_text("# Tram line opens\n\nThe new tram line opened on Friday.\n")
    (folder / "b.txt").write_bytes(b"\xff\xfe\x00\x00")
    report = engine.add_source(str(folder), "folder")
    assert report.articles == 1
    assert "folder/b.txt: binary file" in {s.name: s for s in engine.list_sources()}["folder"].last_error
    assert Path(folder).exists()


def test_malformed_fields_skip_their_line_only(engine, tmp_path):
    p = tmp_path / "odd.jsonl"
    p.write_text('{"title": "Odd link", "text": "A story with a broken link.", "url": "http://[::1"}\n'
                 '{"title": "Far future", "text": "A story from the far future.", "published": 1e20}\n'
                 '{"title": "Fine", "text": "A fine story about trams.", "published": "2020-02-02"}\n')
    report = engine.add_source(str(p), "odd")
    assert report.articles == 2
    listed = {s.name: s for s in engine.list_sources()}
    assert "odd line 2: published is not a date" in listed["odd"].last_error


def test_credentials_in_urls_are_never_stored_or_shown(engine, web, tmp_path):
    feed = (DEMO / "feed.xml").read_text().replace("https://", "https://reader:s3cret@")
    assert "s3cret" in feed
    path = tmp_path / "creds.xml"
    path.write_text(feed)
    engine.add_source(str(path), "creds")
    host = web.removeprefix("http://")
    engine.add_source(f"http://admin:hunter2@{host}/feed.xml", "withpass")
    with pytest.raises(SourceError) as failed:
        engine.add_source(f"http://admin:hunter2@{host}/missing.xml", "failing")
    assert "hunter2" not in str(failed.value)
    shown = repr([s.to_json() for s in engine.list_sources()])
    arts = engine.store.latest_articles(100)
    assert arts and all(a.url is None or "@" not in a.url for a in arts)
    assert "s3cret" not in shown and "hunter2" not in shown
    assert f"http://{host}/feed.xml" in shown
    hits = engine.search("Saltmere port containers", k=5)
    assert hits and all("s3cret" not in (h.article.url or "") for h in hits)


def test_deeply_nested_json_is_one_bad_item(engine, tmp_path):
    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (folder / "ok.md").write_text("# Ferry returns\n\nThe island ferry returned to service today.\n")
    lines = tmp_path / "mixed.jsonl"
    lines.write_text('{"title": "Good", "text": "A real story about the harbour."}\n'
                     + "[" * 200_000 + "]" * 200_000 + "\n")
    report = engine.add_source(str(folder), "dump")
    assert report.articles == 1
    err = {s.name: s for s in engine.list_sources()}["dump"].last_error
    assert "deep.json: JSON nested too deeply" in err and "\n" not in err
    report = engine.add_source(str(lines), "mixed")
    assert report.articles == 1
    assert "mixed line 2: JSON nested too deeply" in {
        s.name: s for s in engine.list_sources()}["mixed"].last_error


def test_a_file_that_fails_to_read_keeps_its_articles_until_it_is_gone(engine, tmp_path):
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "a.md").write_text("# Tram line opens\n\nThe new tram line opened on Friday.\n")
    b = folder / "b.md"
    b.write_text("# Bridge closes\n\nThe old bridge closed for repairs on Monday.\n")
    lines = tmp_path / "wire.jsonl"
    good = ['{"id": "w1", "title": "Wire one", "text": "The first wire story about the port."}',
            '{"id": "w2", "title": "Wire two", "text": "The second wire story about the dock."}']
    lines.write_text("\n".join(good) + "\n")
    assert engine.add_source(str(folder), "desk").articles == 2
    assert engine.add_source(str(lines), "wire").articles == 2
    b.write_bytes(b"")  # briefly empty, as while an editor saves it
    lines.write_text(good[0] + "\n{half a line\n")
    [desk] = engine.refresh("desk")
    [wire] = engine.refresh("wire")
    assert (desk.articles, desk.removed) == (2, 0) and "b.md: file is empty" in desk.problems[0]
    assert (wire.articles, wire.removed) == (2, 0)
    assert engine.search("bridge closed for repairs", k=1)[0].article.title == "Bridge closes"
    b.unlink()  # gone for good: now its article goes
    lines.write_text(good[0] + "\n")
    assert engine.refresh("desk")[0].removed == 1
    assert engine.refresh("wire")[0].removed == 1


def test_a_feed_cannot_overwrite_another_sources_article_by_claiming_its_link(engine, tmp_path):
    def feed(title: str, text: str, link: str) -> str:
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
                f"<item><title>Harbour dues frozen</title><link>{link}</link>"
                f"<description>{text}</description></item></channel></rss>")

    legit, hostile = tmp_path / "legit.xml", tmp_path / "hostile.xml"
    legit.write_text(feed("Harbour Gazette", "The harbour board froze mooring dues for 2021 "
                          "after a unanimous vote.", "https://gazette.example/dues"))
    hostile.write_text(feed("Copycat Daily", "The harbour board doubled mooring dues for 2021 "
                            "after a secret vote.",
                            "HTTPS://Gazette.example/dues?utm_source=spoof"))
    engine.add_source(str(legit), "legit")
    for _ in range(2):  # and again on its next refresh
        engine.add_source(str(hostile), "hostile")
        hits = engine.search("harbour board froze mooring dues unanimous vote", k=3)
        by_publisher = {h.article.publisher: h.article for h in hits}
        real = by_publisher["Harbour Gazette"]
        assert "froze mooring dues" in real.text and real.url == "https://gazette.example/dues"
        assert "doubled" in by_publisher["Copycat Daily"].text
        assert by_publisher["Copycat Daily"].id != real.id


def test_an_article_without_a_title_takes_its_first_sentence(engine, tmp_path):
    p = tmp_path / "export.jsonl"
    p.write_text('{"id": "x1", "text": "The ferry to Lindholm resumed service on Monday. It had '
                 'been suspended for a week."}\n')
    report = engine.add_source(str(p), "export")
    assert report.articles == 1 and report.new == 1
    assert report.problems == ["export: 1 articles had no title; the first sentence of each "
                               "stands in"]
    [art] = engine.store.get_articles(["x1"]).values()
    assert art.title == "The ferry to Lindholm resumed service on Monday."
