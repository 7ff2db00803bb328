"""Text chores shared by the engine: one stop-word set, one stemmer, normalising and verifying
quotes, the names a question turns on, and how dates are shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

import Stemmer

# English function words, plus the words every news question or sentence carries.
STOP_WORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "don", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "out", "over", "own", "s", "said", "same", "says", "she", "should", "so", "some", "such", "t", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "up", "very", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your"])
# Words that make a question but name nothing: never a topic or a name.
QUESTION_WORDS = frozenset({"tell", "give", "show", "list", "latest", "news", "whose"})

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")

_TOKEN = re.compile(r"\w+", re.UNICODE)
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "`": "'", "\xa0": " "})


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of a lower-cased word."""
    return _stem(word.lower())


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:  # cached: answers stem every word of their candidates
    return str(_stemmer().stemWord(word))


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """The words of `text` that are not stop words, lower-cased, first occurrence order."""
    return list(dict.fromkeys(t for t in tokens(text) if t not in STOP_WORDS))


def normalise(text: str) -> str:
    return " ".join(text.translate(_QUOTES).split())


def verify_quote(quote: str, article_text: str) -> bool:
    """A quote may be shown only if it is, after normalising white space and quote marks,
    an exact substring of the stored article text."""
    q = normalise(quote)
    return bool(q) and q in normalise(article_text)


def key_names(question: str) -> list[str]:
    """Names the question turns on: capitalised words that do not merely start a sentence, and
    years. A question about "Lufthansa" is not answered by a passage that never names it."""
    q = re.sub(r"<[^>]+>|https?://\S+", " ", question)
    names: list[str] = []
    sentence_start = True
    for m in re.finditer(r"[A-Za-z0-9][\w’'.-]*|[.!?:;\"“”]", q):
        tok = m.group(0)
        if tok in '.!?:;"“”':
            sentence_start = tok in ".!?:\"“"
            continue
        word = re.sub(r"(['’]s|[.’'-])+$", "", tok)
        starts = sentence_start
        sentence_start = False
        if not word:
            continue
        for part in word.split("-"):
            low = part.lower()
            if not part or low in QUESTION_WORDS or low in STOP_WORDS:
                continue
            if is_year(part) or (part[0].isupper() and not starts and not part.isdigit()):
                names.append(part)
    return list(dict.fromkeys(names))


def is_year(name: str) -> bool:
    return re.fullmatch(r"(19|20)\d\d", name) is not None


def mentions(name: str, text: str) -> bool:
    """Whether `text` names `name`: the phrase itself, or for one word any word with its stem
    (Turkey/Turkey's, negotiation/negotiations)."""
    if " " in name:
        return normalise(name.lower()) in normalise(text.lower())
    target = stem(name)
    return any(stem(t) == target for t in tokens(text))


def parse_day(value: str) -> datetime | None:
    """A date as people write it ("2020-02-10", "10 Feb 2020", "last Monday"), as the start of
    that day in UTC; None when it is not a date."""
    import dateparser

    parsed = dateparser.parse(value, settings={"TIMEZONE": "UTC", "RETURN_AS_TIMEZONE_AWARE": True,
                                               "PREFER_DATES_FROM": "past"})
    if not isinstance(parsed, datetime):
        return None
    return parsed.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# Bidi overrides and isolates, zero-width characters and the BOM: invisible, and able to reorder
# or hide what a reader sees. Stripped from what is shown; the stored text keeps them.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c"
                                    "\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"))


def displayable(text: str) -> str:
    return text.translate(_INVISIBLE)


def format_date(dt: datetime | None) -> str:
    return dt.strftime("%-d %b %Y") if dt else "date unknown"
