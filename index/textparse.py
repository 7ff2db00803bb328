"""Turn raw text into Articles: scraped pages, Markdown, front matter, dates, HTML fragments."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from index.models import Article
from index.text import MONTHS

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_HEADER = re.compile(r"^(title|source|publisher|date|published|url|link|author|category):\s*(.+)$", re.I)
# "ANKARA (Sputnik) - ", "LONDON (Reuters) — ": the publisher is in the parentheses.
_DATELINE = re.compile(r"^[A-Z][A-Z .,'’/-]{1,40}\s*\(([^)]{2,40})\)\s*[-–—:]\s*")
_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?)\b")
_MONTH_NAMES = "|".join(m.title() for m in MONTHS)
_LONG_DATE = re.compile(rf"\b((?:{_MONTH_NAMES})\s+\d{{1,2}},\s+\d{{4}}|\d{{1,2}}\s+(?:{_MONTH_NAMES})\s+\d{{4}})\b")
_END_PUNCT = ("." , "!", "?", '"', "”", "’", "'", ":", ";", ")")


def parse_date(value: object) -> datetime | None:
    """ISO 8601, RFC 822, 'February 8, 2020' or a timestamp to an aware UTC datetime; None if
    unparseable. ISO dates, the common case, skip the slower general parser."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt: datetime | None = value
    elif isinstance(value, int | float):
        try:
            dt = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        s = str(value).strip()
        if not s:
            return None
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            import dateparser

            dt = dateparser.parse(s, languages=["en"],
                                  settings={"RETURN_AS_TIMEZONE_AWARE": True, "TIMEZONE": "UTC",
                                            "STRICT_PARSING": True})
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _is_label(line: str) -> bool:
    """A section label or page chrome: a few words, no sentence punctuation."""
    words = line.split()
    return 0 < len(words) <= 3 and not line.rstrip().endswith(_END_PUNCT)


def _is_headline_junk(line: str) -> bool:
    """A related-story link inside a scraped body: Title Case, no closing punctuation."""
    s = line.strip()
    if not s or s.endswith(_END_PUNCT):
        return False
    words = [w for w in re.findall(r"[A-Za-z][\w’'-]*", s)]
    if len(words) <= 3:
        return True
    caps = sum(1 for w in words if w[0].isupper())
    return caps / len(words) >= 0.6


def parse_text(raw: str, *, markdown: bool = False) -> Article:
    """Parse a plain-text or Markdown article, often a scraped page.

    Recognises front matter (`---` block or `Title:`-style header lines), a leading section label,
    the headline, a dateline naming the publisher, and drops page chrome lines from the body.
    """
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    meta: dict[str, str] = {}
    m = _FRONT.match(text)
    if m:
        for line in m.group(1).splitlines():
            k, _, v = line.partition(":")
            if v.strip():
                meta[k.strip().lower()] = v.strip().strip("'\"")
        text = text[m.end():]
    else:
        lines = text.split("\n")
        i = 0
        while i < len(lines) and (hm := _HEADER.match(lines[i].strip())):
            meta[hm.group(1).lower()] = hm.group(2).strip()
            i += 1
        if meta:
            text = "\n".join(lines[i:])

    lines = [ln.strip() for ln in text.split("\n")]
    nonempty = [i for i, ln in enumerate(lines) if ln]
    title = meta.get("title")
    category = meta.get("category")
    body_start = 0
    if not title and nonempty:
        k = 0
        # a section label ("World") sits above the headline on many scraped pages
        if markdown and lines[nonempty[0]].startswith("#"):
            pass
        elif len(nonempty) > 1 and _is_label(lines[nonempty[0]]):
            category = category or lines[nonempty[0]]
            k = 1
        first = lines[nonempty[k]]
        if markdown and first.startswith("#"):
            title = first.lstrip("#").strip()
            body_start = nonempty[k] + 1
        elif len(first.split()) <= 30 and not (_DATELINE.match(first) and len(nonempty) == 1):
            title = first.rstrip(".")
            body_start = nonempty[k] + 1
        else:
            title = " ".join(first.split()[:12])
            body_start = nonempty[k]
    body_lines = lines[body_start:]

    publisher = meta.get("source") or meta.get("publisher")
    for ln in body_lines:
        if ln:
            dm = _DATELINE.match(ln)
            if dm and not publisher:
                publisher = dm.group(1).strip()
            break

    kept: list[str] = []
    for ln in body_lines:
        if markdown:
            ln = re.sub(r"^#{1,6}\s+", "", ln)
        # a dropped chrome line still separates paragraphs
        kept.append("" if ln and _is_headline_junk(ln) else ln)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
    if not body and title:
        body = title  # a one-line file: the line is both headline and text

    published = parse_date(meta.get("published") or meta.get("date"))
    if published is None:
        head = "\n".join(lines[: body_start + 3])
        dm2 = _ISO_DATE.search(head) or _LONG_DATE.search(head)
        if dm2:
            published = parse_date(dm2.group(1))
    return Article(
        title=title or "",
        text=body,
        url=meta.get("url") or meta.get("link"),
        publisher=publisher,
        published=published,
        author=meta.get("author"),
        category=category,
    )


_BLOCK = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "section", "article"}


def html_to_text(fragment: str) -> str:
    """Text of an HTML fragment (a feed item's body), paragraphs separated by blank lines."""
    import lxml.html

    if "<" not in fragment:
        # plain text may still carry entities (&amp;), and a line break inside a paragraph is a
        # hard wrap, not the end of a sentence
        paras = re.split(r"\n\s*\n", html.unescape(fragment))
        return "\n\n".join(" ".join(p.split()) for p in paras if p.strip())
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except Exception:  # lxml raises several types on junk input
        return re.sub(r"<[^>]+>", " ", fragment).strip()
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    for el in root.iter():  # source line breaks are white space; <br> and blocks make breaks
        if el.text:
            el.text = el.text.replace("\n", " ")
        if el.tail:
            el.tail = el.tail.replace("\n", " ")
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag in _BLOCK:
            el.tail = "\n\n" + (el.tail or "")
    text = root.text_content()
    text = re.sub(r"[ \t\xa0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
