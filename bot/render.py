"""Turn engine results into Discord messages within Discord's limits, never cutting a quote."""

from __future__ import annotations

from collections.abc import Sequence

import discord
from discord.utils import escape_markdown as _escape_markdown

from index.models import Answer, Citation, Disagreement, Hit, SourceInfo, Summary, Timeline
from index.text import displayable, format_date
from index.wording import abstention_sentence, disagreement_sentence, marks, unshown

DESCRIPTION_LIMIT = 4096
EMBEDS_PER_MESSAGE = 10
TOTAL_EMBED_CHARS = 6000
FIELD_LIMIT = 25
COLOUR = discord.Colour.from_rgb(46, 104, 160)
NO_PINGS = discord.AllowedMentions.none()
TITLE_LIMIT = 256
EMPTY_HINT = "an admin can add a source with /source add."


def escape_markdown(text: str) -> str:
    """Markdown escaped, and the invisible characters that could reorder or hide text removed."""
    return _escape_markdown(displayable(text))


def _label(text: str) -> str:
    """Text for a Markdown link's label: escaped, and unable to close the label early."""
    return escape_markdown(text).replace("]", "\\]")


def _address(url: str) -> str:
    """A URL for a Markdown link, unable to close the link early."""
    return url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")


def citation_line(c: Citation) -> str:
    title = _label(c.title or "untitled")
    link = f"[{title}]({_address(c.url)})" if c.url else f"**{title}**"
    return f"[{c.n}] {link} — {escape_markdown(c.source or 'unknown publisher')}, {format_date(c.published)}"


def quote_block(text: str, n: int, also: Sequence[int] = ()) -> str:
    body = escape_markdown(" ".join(text.split()))
    return f"> {body} **{marks(n, also)}**"


def disagreement_blocks(answer: Answer, d: Disagreement) -> list[str]:
    """"Sources differ: ..." and the side the quotes above do not show, quoted."""
    return ["", "⚖ " + escape_markdown(disagreement_sentence(d)),
            *[quote_block(c.text, c.citation) for c in unshown(answer, d)]]


def pack(blocks: list[str], limit: int, sep: str = "\n") -> list[str]:
    """Greedy packing of whole blocks into pages of at most `limit` characters. A block longer
    than a page on its own (a quote of over 4,000 characters) is cut at a word boundary with an
    ellipsis, the one case where no whole block fits."""
    pages: list[str] = []
    cur = ""
    for block in blocks:
        if len(block) > limit:
            cut = block[: limit - 2].rsplit(" ", 1)[0]
            block = cut + " …"
        candidate = f"{cur}{sep}{block}" if cur else block
        if len(candidate) <= limit:
            cur = candidate
        else:
            pages.append(cur)
            cur = block
    if cur:
        pages.append(cur)
    return pages


def answer_embeds(answer: Answer) -> list[discord.Embed]:
    if answer.abstention is not None:
        text = abstention_sentence(answer.abstention, EMPTY_HINT)
        return [discord.Embed(description=escape_markdown(text)[:DESCRIPTION_LIMIT],
                              colour=discord.Colour.light_grey())]
    blocks = [escape_markdown(answer.phrasing), ""] if answer.phrasing else []
    blocks += [quote_block(q.text, q.citation, q.also) for q in answer.quotes]
    for d in answer.disagreements:
        blocks += disagreement_blocks(answer, d)
    blocks.append("")
    blocks += [citation_line(c) for c in answer.citations]
    pages = pack(blocks, DESCRIPTION_LIMIT)
    embeds = [discord.Embed(description=p, colour=COLOUR) for p in pages]
    embeds[0].title = _title(answer.question)
    if len(embeds) > 1:
        for i, e in enumerate(embeds, 1):
            e.set_footer(text=f"{i}/{len(embeds)}")
    return embeds


def shorten(text: str, limit: int) -> str:
    """One line of at most `limit` characters, an ellipsis marking a cut."""
    t = " ".join(text.split())
    return t if len(t) <= limit else t[: limit - 1] + "…"


def _title(question: str) -> str:
    return shorten(question, TITLE_LIMIT)


def batches(embeds: list[discord.Embed]) -> list[list[discord.Embed]]:
    """Embeds grouped into messages: at most 10 a message and 6,000 characters in all."""
    out: list[list[discord.Embed]] = []
    cur: list[discord.Embed] = []
    size = 0
    for e in embeds:
        n = len(e)
        if cur and (len(cur) >= EMBEDS_PER_MESSAGE or size + n > TOTAL_EMBED_CHARS):
            out.append(cur)
            cur, size = [], 0
        cur.append(e)
        size += n
    if cur:
        out.append(cur)
    return out


def latest_embeds(items: list[Summary], topic: str | None) -> list[discord.Embed]:
    if not items:
        what = f" on {topic}" if topic else ""
        return [discord.Embed(description=f"No indexed article{escape_markdown(what)}.",
                              colour=discord.Colour.light_grey())]
    blocks = []
    for s in items:
        block = citation_line(s.citation) + "\n" + "> " + escape_markdown(" ".join(s.sentences))
        if s.also:
            block += "\nAlso reported by: " + ", ".join(_outlet_link(c) for c in s.also)
        blocks.append(block)
    pages = pack(blocks, DESCRIPTION_LIMIT, sep="\n\n")
    embeds = [discord.Embed(description=p, colour=COLOUR) for p in pages]
    embeds[0].title = shorten(f"Latest{' on ' + topic if topic else ''}", TITLE_LIMIT)
    return embeds


def _outlet_link(c: Citation) -> str:
    name = _label(c.source or "unknown publisher")
    return f"[{name}]({_address(c.url)})" if c.url else name


def timeline_embeds(t: Timeline) -> list[discord.Embed]:
    if not t.entries:
        return [discord.Embed(description=f"No indexed article on {escape_markdown(t.topic)}.",
                              colour=discord.Colour.light_grey())]
    blocks = [f"**{format_date(e.published)}**\n"
              + quote_block(e.quote.text, e.quote.citation, e.quote.also) for e in t.entries]
    blocks.append("")
    blocks += [citation_line(c) for c in t.citations]
    pages = pack(blocks, DESCRIPTION_LIMIT)
    embeds = [discord.Embed(description=p, colour=COLOUR) for p in pages]
    embeds[0].title = shorten(f"Timeline: {t.topic}", TITLE_LIMIT)
    return embeds


def search_embeds(query: str, hits: list[Hit]) -> list[discord.Embed]:
    if not hits:
        return [discord.Embed(description="No indexed article matches.",
                              colour=discord.Colour.light_grey())]
    blocks, seen = [], set()
    for h in hits:
        if h.article.id in seen:
            continue
        seen.add(h.article.id)
        c = Citation.of(len(seen), h.article)
        snippet = " ".join(h.passage.text.split())
        if len(snippet) > 300:
            snippet = snippet[:300].rsplit(" ", 1)[0] + " …"
        blocks.append(citation_line(c) + "\n" + escape_markdown(snippet))
    pages = pack(blocks, DESCRIPTION_LIMIT, sep="\n\n")
    embeds = [discord.Embed(description=p, colour=COLOUR) for p in pages]
    embeds[0].title = _title(f"Search: {query}")
    return embeds


def sources_embed(sources: list[SourceInfo]) -> discord.Embed:
    e = discord.Embed(title="Indexed sources", colour=COLOUR)
    if not sources:
        e.description = "No sources yet. An admin can add one with /source add."
        return e
    shown = 0
    for s in sources[:FIELD_LIMIT]:
        when = s.last_refresh.strftime("%-d %b %Y %H:%M UTC") if s.last_refresh else "never"
        value = f"{s.articles} articles · {s.passages} passages · refreshed {when}"
        if s.last_error:
            err = escape_markdown(s.last_error)
            value += f"\n⚠ {err if len(err) <= 150 else err[:149] + '…'}"
        name = (s.name[:80] + (" · this server's" if s.server else ""))
        if len(e) + len(name) + len(value) > TOTAL_EMBED_CHARS - 100:
            break
        e.add_field(name=name, value=value, inline=False)
        shown += 1
    if len(sources) > shown:
        e.set_footer(text=f"and {len(sources) - shown} more")
    return e
