"""Split article text into sentence-aligned passages with character offsets."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from index.models import Passage

# all-MiniLM-L6-v2 reads 256 word pieces; news English runs ~1.3 pieces a word, so 150 words
# leaves headroom for numbers and names that split into many pieces.
MAX_WORDS = 150
_WORD = re.compile(r"\S+")
_PARA = re.compile(r"\n\s*\n")
_INNER_END = re.compile(r"[.!?][\"'”’)\]]*\s+\S")


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd
    from pysbd.utils import TextSpan

    class Segmenter(pysbd.Segmenter):  # type: ignore[misc]
        """pysbd's segmenter, its sentences located in the text without a regular expression.

        pysbd finds each sentence it returns with `re.finditer(re.escape(sentence) + r"\s*")`:
        a pattern compiled per sentence, which also pushes its own abbreviation patterns out of
        Python's cache of 512. Finding the same first occurrence that ends past the previous
        sentence with `str.find` gives identical spans (tests/test_passages.py) and split the
        BBC corpus in 14.3 s instead of 22.6 (bench/index_bbc.py's texts)."""

        def sentences_with_char_spans(self, sentences: list[str]) -> list[Any]:
            text = self.original_text
            spans: list[Any] = []
            prior = 0
            for sent in sentences:
                if not sent:
                    return list(super().sentences_with_char_spans(sentences))
                pos = 0
                while (start := text.find(sent, pos)) >= 0:
                    end = start + len(sent)
                    while end < len(text) and text[end].isspace():  # (re's \s)
                        end += 1
                    if end > prior:
                        spans.append(TextSpan(text[start:end], start, end))
                        prior = end
                        break
                    pos = end
            return spans

    base = pysbd.languages.LANGUAGE_CODES["en"]

    class English(base):  # type: ignore[misc,valid-type]
        class AbbreviationReplacer(base.AbbreviationReplacer):  # type: ignore[misc,name-defined]
            """pysbd's English abbreviation pass, without the searches that cannot change the
            text.

            For each of its 188 abbreviations that occurs in a line at all ("no" in "now"),
            pysbd finds every word that starts with it and for each one substitutes the period
            after it: about 50 searches and as many substitutions a paragraph, over half its
            time. Each substitution needs the abbreviation followed by a period, and they only
            ever remove periods, so an abbreviation of letters and digits that, lower-cased and
            followed by ".", is not in the lower-cased line changes nothing: it is skipped.
            The rest is pysbd 0.3.4's loop as it is (tests/test_passages.py compares the spans
            with pysbd's own)."""

            # its abbreviations of letters and digits only, and their lengths
            SIMPLE = frozenset(a.strip() for a in base.Abbreviation.ABBREVIATIONS
                               if a.strip().isascii() and a.strip().isalnum())
            LENGTHS = sorted({len(a) for a in SIMPLE})

            def search_for_abbreviations_in_string(self, text: str) -> str:
                lowered = text.lower()
                # the words of letters and digits that stand before a period, at every length
                # such an abbreviation has: the only ones that can change anything
                dotted = {lowered[max(0, i - n):i] for i, c in enumerate(lowered) if c == "."
                          for n in self.LENGTHS}
                for abbr in self.lang.Abbreviation.ABBREVIATIONS:
                    stripped = abbr.strip()
                    if stripped in self.SIMPLE:
                        if stripped not in dotted:
                            continue
                    elif stripped not in lowered:
                        continue
                    matches = re.findall(rf"(?:^|\s|\r|\n){stripped}", text, flags=re.IGNORECASE)
                    if not matches:
                        continue
                    # pysbd's pattern for the next word's first letter: its braces are literal
                    chars = re.findall(r"(?<={" + re.escape(stripped) + "} ).{1}", text)
                    for i, match in enumerate(matches):
                        text = self.scan_for_replacements(text, match, i, chars)
                return text

    from pysbd.lists_item_replacer import ListItemReplacer
    from pysbd.processor import Processor
    from pysbd.utils import Text

    class ListItems(ListItemReplacer):  # type: ignore[misc]
        """pysbd's list finder, without the searches that cannot find a list: lettered items in
        parentheses need a ")", numbered ones a digit."""

        def iterate_alphabet_array(self, regex: str, parens: bool = False,
                                   roman_numeral: bool = False) -> str:
            if parens and ")" not in self.text:
                return str(self.text)
            return str(super().iterate_alphabet_array(regex, parens, roman_numeral))

        def scan_lists(self, regex1: str, regex2: str, replacement: str,
                       strip: bool = False) -> None:
            if _DIGIT.search(self.text):
                super().scan_lists(regex1, regex2, replacement, strip)

    class EnglishProcessor(Processor):  # type: ignore[misc]
        text: str

        def process(self) -> Any:
            """pysbd 0.3.4's `Processor.process`, with `ListItems` for its list finder."""
            if not self.text:
                return self.text
            self.text = self.text.replace("\n", "\r")
            self.text = ListItems(self.text).add_line_break()
            self.replace_abbreviations()
            self.replace_numbers()
            self.replace_continuous_punctuation()
            self.replace_periods_before_numeric_references()
            self.text = Text(self.text).apply(
                self.lang.Abbreviation.WithMultiplePeriodsAndEmailRule,
                self.lang.GeoLocationRule, self.lang.FileFormatRule)
            return self.split_into_segments()

    English.Processor = EnglishProcessor
    segmenter = Segmenter(language="en", clean=False, char_span=True)
    segmenter.language_module = English
    return segmenter


_DIGIT = re.compile(r"\d")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, trimmed of surrounding white space.

    Paragraph breaks always end a sentence; pysbd splits inside paragraphs.
    """
    spans: list[tuple[int, int]] = []
    for para_start, para_end in _paragraphs(text):
        para = text[para_start:para_end]
        if "\n" not in para.strip() and not _INNER_END.search(para.strip()):
            # one sentence: no end mark before its last word (a third of news paragraphs);
            # pysbd is the slow part of indexing, so it is spared these
            spans.append(_trim(text, para_start, para_end))
            continue
        first = len(spans)
        for span in _segmenter().segment(para):
            start, end = _trim(text, para_start + span.start, para_start + span.end)
            if end <= start:
                continue
            if len(spans) > first and _joins_previous(text[start:end]):
                # pysbd split inside a sentence ("... A Policy Tool?, the IPPR also asks") or
                # left a closing quote alone: a piece that starts with a comma or a lower-case
                # word, or holds only punctuation, joins the one before
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return spans


def _joins_previous(piece: str) -> bool:
    return piece[0] in ",;:)]}" or piece[0].islower() or not any(c.isalnum() for c in piece)


def _paragraphs(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _PARA.finditer(text):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return [(s, e) for s, e in out if text[s:e].strip()]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_passages(
    article_id: str, text: str, max_words: int = MAX_WORDS, salt: str = ""
) -> list[Passage]:
    """Greedy packing of whole sentences into passages of at most `max_words` words.

    A single sentence longer than the limit is cut at word boundaries. `salt` (the title, which
    is embedded with each passage) goes into the passage ids, so a new title means new vectors.
    """
    pieces: list[tuple[int, int]] = []
    for start, end in sentence_spans(text):
        words = list(_WORD.finditer(text, start, end))
        if len(words) <= max_words:
            pieces.append((start, end))
            continue
        for i in range(0, len(words), max_words):
            chunk = words[i : i + max_words]
            pieces.append((chunk[0].start(), chunk[-1].end()))

    passages: list[Passage] = []
    cur: list[tuple[int, int]] = []
    cur_words = 0
    for start, end in pieces:
        n = len(text[start:end].split())
        if cur and cur_words + n > max_words:
            passages.append(_make(article_id, text, len(passages), cur, salt))
            cur, cur_words = [], 0
        cur.append((start, end))
        cur_words += n
    if cur:
        passages.append(_make(article_id, text, len(passages), cur, salt))
    return passages


def _make(
    article_id: str, text: str, position: int, pieces: list[tuple[int, int]], salt: str
) -> Passage:
    start, end = pieces[0][0], pieces[-1][1]
    body = text[start:end]
    digest = hashlib.sha1(f"{article_id}\0{position}\0{salt}\0{body}".encode()).hexdigest()[:20]
    return Passage(
        id=f"p_{digest}", article_id=article_id, position=position, start=start, end=end,
        text=body, sentences=tuple((s - start, e - start) for s, e in pieces),
    )


# From this many articles on, `split_ahead` splits on a thread of its own while the caller
# embeds. The model holds both cores, so this gains only the time its threads leave (they do
# not spin, `index/embed.py`): the BBC corpus indexed in one process in 120.8 s splitting
# ahead, 125.7 s splitting first (13.7 s of it splitting). A worker process gained no more.
SPLIT_AHEAD = 200
SPLIT_BATCH = 25  # articles split at a time


def split_ahead(items: Sequence[tuple[str, str, str]]) -> Generator[list[Passage], None, None]:
    """The passages of each (article id, text, title), in order, as `split_passages` gives
    them: on another thread, ahead of the caller, for `SPLIT_AHEAD` articles or more."""
    if len(items) < SPLIT_AHEAD:
        for aid, text, title in items:
            yield split_passages(aid, text, salt=title)
        return
    pool = ThreadPoolExecutor(1, thread_name_prefix="newsbot-split")
    try:
        futures = [pool.submit(_split_many, items[i : i + SPLIT_BATCH])
                   for i in range(0, len(items), SPLIT_BATCH)]
        for f in futures:
            yield from f.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _split_many(items: Sequence[tuple[str, str, str]]) -> list[list[Passage]]:
    return [split_passages(aid, text, salt=title) for aid, text, title in items]
