"""Read news sources (files, folders, feeds, web pages) into Articles.

Every failure is a SourceError naming the source and the reason in one line.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import time
from calendar import timegm
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from index.errors import SourceError
from index.models import Article
from index.textparse import html_to_text, parse_date, parse_text

log = logging.getLogger(__name__)

FILE_EXTS = {".txt", ".md", ".html", ".htm", ".json", ".jsonl"}
FEED_EXTS = {".xml", ".rss", ".atom"}
USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot)"
MAX_REDIRECTS = 5
# Feed items shorter than this are fetched from their link for the full article (URL feeds only).
SHORT_ITEM_CHARS = 400
MAX_ITEM_FETCHES = 30
# Fewer words than this is navigation or a paywall stub, not an article.
MIN_PAGE_WORDS = 25


@dataclass
class ReadResult:
    """What one read of a source produced: articles, plus per-item problems that did not stop it."""

    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Fetcher:
    """HTTP fetching with limits and an SSRF guard. `transport` is a seam for tests."""

    timeout: float = 20.0  # for one fetch as a whole: connect, headers and body
    max_bytes: int = 20_000_000
    allow_private: bool = False
    transport: httpx.BaseTransport | None = None
    # a feed's short items are completed from their links this many at a time, all of them
    # within `source_budget` seconds; what is left keeps the feed's summary
    item_workers: int = 4
    source_budget: float = 60.0

    def fetch(self, url: str, source: str) -> tuple[bytes, str, str]:
        """GET `url` following redirects (each hop checked), all within `timeout` seconds.
        Returns (body, content_type, final_url)."""
        deadline = time.monotonic() + self.timeout
        pins: dict[str, str] = {}  # host -> the address that was checked, and is connected to
        transport = self.transport
        if transport is None and not self.allow_private:
            transport = _PinnedTransport(pins)
        with httpx.Client(
            timeout=self.timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                self._check_url(url, source, pins)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SourceError(source, self._too_slow(url))
                try:
                    with client.stream("GET", url, timeout=left) as resp:
                        if resp.is_redirect and "location" in resp.headers:
                            url = urljoin(url, resp.headers["location"])
                            continue
                        if resp.status_code >= 400:
                            raise SourceError(
                                source, f"HTTP {resp.status_code} {resp.reason_phrase} from {public_url(url)}"
                            )
                        declared = resp.headers.get("content-length")
                        if declared and declared.isdigit() and int(declared) > self.max_bytes:
                            raise SourceError(source, _too_big(int(declared), self.max_bytes))
                        chunks, size = [], 0
                        for chunk in resp.iter_bytes():
                            if time.monotonic() > deadline:  # a server that drips bytes
                                raise SourceError(source, self._too_slow(url))
                            size += len(chunk)
                            if size > self.max_bytes:
                                raise SourceError(source, _too_big(size, self.max_bytes, more=True))
                            chunks.append(chunk)
                        return b"".join(chunks), resp.headers.get("content-type", ""), str(resp.url)
                except httpx.TimeoutException:
                    raise SourceError(source, f"no answer from {public_url(url)} within {self.timeout:g}s") from None
                except httpx.HTTPError as exc:
                    raise SourceError(source, f"could not fetch {public_url(url)}: {_short(exc)}") from None
            raise SourceError(source, f"more than {MAX_REDIRECTS} redirects from {public_url(url)}")

    def _too_slow(self, url: str) -> str:
        return f"{public_url(url)} took longer than {self.timeout:g}s"

    def _check_url(self, url: str, source: str, pins: dict[str, str]) -> None:
        """Refuse what is not http(s) or resolves to a non-public address; remember the
        address checked, so the connection goes there and nowhere a second lookup says."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(source, f"not an http(s) URL: {public_url(url)}")
        if self.allow_private:
            return
        host = parts.hostname
        try:
            infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                       type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise SourceError(source, f"cannot resolve host {host}: {exc}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        for ip in addresses:
            if not _is_public(ip):
                raise SourceError(
                    source,
                    f"refusing to fetch {host} ({ip}): private, loopback or link-local address "
                    "(set NEWSBOT_ALLOW_PRIVATE_URLS=true to allow)",
                )
        if addresses:
            pins[host.lower()] = str(addresses[0])


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable, and not a private IPv4 address wrapped in IPv6 (mapped, 6to4,
    Teredo, NAT64)."""
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and any(ip in net for net in _NAT64):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return _is_public(inner)
    return True


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the address `_check_url` checked for the host (TLS and the Host header
    still name the host), so a DNS answer that changes in between (rebinding) is not used."""

    def __init__(self, pins: dict[str, str]) -> None:
        self.pins = pins

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        pinned = self.pins.get(host.lower())
        if pinned is None:  # every hop is checked first; this would be a bug
            raise httpcore.ConnectError(f"{host} was not checked before connecting")
        return super().connect_tcp(pinned, port, timeout, local_address, socket_options)


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self, pins: dict[str, str]) -> None:
        super().__init__()
        # httpx has no public hook for the network backend: give its pool ours
        self._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(),
                                             network_backend=_PinnedBackend(pins))


def _too_big(size: int, limit: int, more: bool = False) -> str:
    return f"{'over ' if more else ''}{size / 1e6:.1f} MB, over the {limit / 1e6:.0f} MB limit"


def _short(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return msg.splitlines()[0][:200]


def public_url(url: str) -> str:
    """The URL without user info ("user:secret@"), which is never stored or shown."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_url(location: str) -> bool:
    try:
        return urlsplit(location).scheme in ("http", "https")
    except ValueError:  # "http://[::1" and other malformed URLs
        return False


def source_kind(location: str) -> str:
    if is_url(location):
        return "url"
    p = Path(location)
    if p.is_dir():
        return "folder"
    if p.suffix.lower() in FEED_EXTS:
        return "feed"
    return "file"


def read_source(location: str, source: str, fetcher: Fetcher) -> ReadResult:
    """Read every article of a source. Raises SourceError when nothing could be read at all."""
    if is_url(location):
        body, ctype, final = fetcher.fetch(location, source)
        if _looks_like_feed(body, ctype):
            return _read_feed(body, source, fetcher, base_url=final)
        return ReadResult([_read_html(_decode(body, source), source, url=final)])
    path = Path(location)
    if not path.exists():
        raise SourceError(source, f"no such file or folder: {location}")
    if path.is_dir():
        return _read_folder(path, source, fetcher)
    result = ReadResult()
    _collect(_read_file(path, source, fetcher), result)
    return result


def _collect(articles: Iterator[Article], result: ReadResult) -> None:
    """Keep the good articles of a file even when some of its items are bad."""
    try:
        result.articles.extend(articles)
    except _Partial as exc:
        result.problems.append(str(exc))


def _read_folder(path: Path, source: str, fetcher: Fetcher) -> ReadResult:
    files = sorted(
        p for p in path.rglob("*")
        if p.is_file() and p.suffix.lower() in FILE_EXTS | FEED_EXTS and not p.name.startswith(".")
    )
    if not files:
        raise SourceError(source, f"no .txt, .md, .html, .json, .jsonl or feed files in {path}")
    result = ReadResult()
    for f in files:
        try:
            _collect(_read_file(f, f"{source}/{f.relative_to(path)}", fetcher), result)
        except SourceError as exc:
            result.problems.append(str(exc))
    if not result.articles and result.problems:
        raise SourceError(source, f"no readable article in {path} ({result.problems[0]})")
    return result


def _read_file(path: Path, source: str, fetcher: Fetcher) -> Iterator[Article]:
    size = path.stat().st_size
    if size == 0:
        raise SourceError(source, "file is empty")
    if size > fetcher.max_bytes:
        raise SourceError(source, f"file is {_too_big(size, fetcher.max_bytes)}")
    data = path.read_bytes()
    ext = path.suffix.lower()
    if ext in FEED_EXTS:
        yield from _read_feed(data, source, fetcher, base_url=None).articles
        return
    text = _decode(data, source)
    if not text.strip():
        raise SourceError(source, "file has no text")
    if ext == ".jsonl":
        yield from _read_jsonl(text, source)
    elif ext == ".json":
        yield from _read_json(text, source)
    elif ext in (".html", ".htm"):
        page = _read_html(text, source, url=None)
        page.key = str(path.resolve())
        yield page
    else:
        article = parse_text(text, markdown=ext == ".md")
        if not article.text.strip():
            raise SourceError(source, "no article text found")
        if not article.title:
            article.title = path.stem.replace("_", " ").replace("-", " ")
        article.key = str(path.resolve())
        yield article


def _decode(data: bytes, source: str) -> str:
    if b"\x00" in data[:8192]:
        raise SourceError(source, "binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None


def article_from_dict(obj: object, where: str) -> Article:
    if not isinstance(obj, dict):
        raise SourceError(where, "expected a JSON object with title and text")
    text = obj.get("text") if obj.get("text") is not None else obj.get("body")
    title = obj.get("title")
    if not isinstance(text, str) or not text.strip():
        raise SourceError(where, "article has no text (or body)")
    derived = not isinstance(title, str) or not title.strip()
    if derived:  # many exports have none: the first sentence stands in, and it is said so
        title = _first_sentence(text)
    published = obj.get("published")
    pub = parse_date(published)
    if published not in (None, "") and pub is None:
        raise SourceError(where, f"published is not a date: {str(published)[:40]!r}")
    ident = obj.get("id")
    return Article(
        title=str(title).strip(),
        title_derived=derived,
        text=text.strip(),
        url=_str_or_none(obj.get("url")),
        publisher=_str_or_none(obj.get("source") or obj.get("publisher")),
        published=pub,
        author=_str_or_none(obj.get("author")),
        category=_str_or_none(obj.get("category")),
        id=str(ident) if ident not in (None, "") else None,
    )


def _first_sentence(text: str, limit: int = 120) -> str:
    from index.passages import sentence_spans

    text = text.strip()
    spans = sentence_spans(text)
    first = text[spans[0][0] : spans[0][1]] if spans else text
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + "…"


def _str_or_none(v: object) -> str | None:
    return str(v).strip() or None if v not in (None, "") else None


MAX_JSON_DEPTH = 64  # far past any article; deeper input is refused before the parser recurses
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(text: str) -> bool:
    """Whether JSON nests deeper than MAX_JSON_DEPTH, told without parsing it (a parser's
    RecursionError leaves CPython 3.11's own recursion bookkeeping off)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def _read_jsonl(text: str, source: str) -> Iterator[Article]:
    good = 0
    errors: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source} line {lineno}"
        if _too_deep(line):
            errors.append(f"{where}: JSON nested too deeply")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: not JSON ({exc.msg})")
            continue
        except RecursionError:
            errors.append(f"{where}: JSON nested too deeply")
            continue
        try:
            yield article_from_dict(obj, where)
            good += 1
        except SourceError as exc:
            errors.append(str(exc))
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        if not good:
            raise SourceError(source, f"no valid article: {errors[0]}{more}")
        raise _Partial(source, errors)


class _Partial(SourceError):
    """Some items of a file were bad; the good ones were already yielded."""

    def __init__(self, source: str, errors: list[str]) -> None:
        more = f" (and {len(errors) - 1} more bad lines)" if len(errors) > 1 else ""
        super().__init__(source, f"skipped: {errors[0]}{more}")
        self.errors = errors


def _read_json(text: str, source: str) -> Iterator[Article]:
    if _too_deep(text):
        raise SourceError(source, "JSON nested too deeply")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(source, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise SourceError(source, "JSON nested too deeply") from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    items = data if isinstance(data, list) else [data]
    for i, obj in enumerate(items):
        yield article_from_dict(obj, f"{source} item {i}" if len(items) > 1 else source)


def _read_html(html: str, source: str, url: str | None) -> Article:
    import trafilatura

    raw = trafilatura.extract(
        html, url=url, output_format="json", with_metadata=True, include_comments=False,
        favor_precision=True,
    )
    doc: dict[str, Any] = json.loads(raw) if raw else {}
    text = (doc.get("text") or "").strip()
    if len(text.split()) < MIN_PAGE_WORDS:
        raise SourceError(source, "no article text found in the page")
    return Article(
        title=(doc.get("title") or "").strip() or (url or source),
        text="\n\n".join(p.strip() for p in text.split("\n") if p.strip()),
        url=url or doc.get("source") or None,
        publisher=doc.get("sitename") or doc.get("hostname") or None,
        published=parse_date(doc.get("date")),
        author=doc.get("author") or None,
        category=doc.get("categories") or None,
    )


def _looks_like_feed(body: bytes, ctype: str) -> bool:
    ctype = ctype.lower()
    if any(t in ctype for t in ("rss", "atom", "/xml")):
        return True
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf"))


@dataclass
class _Item:
    where: str
    title: str
    body: str
    link: str | None
    published: datetime | None
    author: str | None
    category: str | None


def _feed_item(e: Any, where: str) -> _Item:
    body_html = max((c.get("value", "") for c in e.content), key=len) if e.get("content") else ""
    published = parse_date(e.get("published") or e.get("updated"))
    pub_struct = e.get("published_parsed") or e.get("updated_parsed")
    if published is None and pub_struct:
        published = parse_date(timegm(pub_struct))
    return _Item(
        where=where, title=html_to_text(e.get("title", "")).strip(),
        body=html_to_text(body_html or e.get("summary", "") or e.get("description", "")),
        link=e.get("link"), published=published, author=e.get("author"),
        category=(e.get("tags") or [{}])[0].get("term") if e.get("tags") else None)


def _complete(items: list[_Item], fetcher: Fetcher, result: ReadResult) -> None:
    """Replace short feed summaries with the linked article, a few fetches at a time, within
    the source's time budget; an item that fails or is not reached keeps its summary."""
    if not items:
        return

    def fetch(it: _Item) -> Article:  # in a worker: reads the item, changes nothing
        page, _, final = fetcher.fetch(str(it.link), it.where)
        return _read_html(_decode(page, it.where), it.where, url=final)

    pool = ThreadPoolExecutor(max_workers=fetcher.item_workers, thread_name_prefix="feed-item")
    futures = {pool.submit(fetch, it): it for it in items}
    done, pending = wait(futures, timeout=fetcher.source_budget)
    pool.shutdown(wait=False, cancel_futures=True)  # a running fetch ends by its own timeout
    for f in done:
        it, exc = futures[f], f.exception()
        if isinstance(exc, SourceError):
            result.problems.append(f"{exc} (kept the feed's summary)")
        elif exc is not None:
            log.warning("completing %s failed: %s", it.where, exc)
        elif len(full := f.result().text) > len(it.body):
            it.body = full
            it.author = it.author or f.result().author
    if pending:
        result.problems.append(
            f"{len(pending)} items kept the feed's summary: the source's "
            f"{fetcher.source_budget:g}s budget ran out")


def _read_feed(data: bytes, source: str, fetcher: Fetcher, base_url: str | None) -> ReadResult:
    import feedparser

    parsed = feedparser.parse(data)
    if not parsed.entries:
        reason = getattr(parsed, "bozo_exception", None)
        detail = f": {_short(reason)}" if reason else ": it has no items"
        raise SourceError(source, f"not a valid RSS/Atom feed{detail}")
    publisher = parsed.feed.get("title") or (urlsplit(base_url).hostname if base_url else None)
    result = ReadResult()
    items = [_feed_item(e, f"{source} item {i + 1}") for i, e in enumerate(parsed.entries)]
    short = [it for it in items if base_url and it.link and is_url(it.link)
             and len(it.body) < SHORT_ITEM_CHARS][:MAX_ITEM_FETCHES]
    _complete(short, fetcher, result)
    for it in items:
        if not it.body.strip():
            result.problems.append(f"{it.where}: item has no text")
            continue
        result.articles.append(Article(
            title=it.title or it.body[:80], text=it.body, url=it.link, publisher=publisher,
            published=it.published, author=it.author, category=it.category, id=None))
    if not result.articles:
        bozo = getattr(parsed, "bozo_exception", None)
        if bozo is not None:
            raise SourceError(source, f"not a valid RSS/Atom feed: {_short(bozo)}")
        raise SourceError(source, f"feed has no readable items ({result.problems[0]})")
    if getattr(parsed, "bozo", False) and not isinstance(
        parsed.get("bozo_exception"), feedparser.CharacterEncodingOverride
    ):
        result.problems.append(f"{source}: feed is malformed ({_short(parsed.bozo_exception)}); "
                               f"kept {len(result.articles)} readable items")
    return result
