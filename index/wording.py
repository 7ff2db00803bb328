"""Plain-English wording of the engine's data, shared by the front ends.

The engine returns quotes, citations and abstention reasons; a front end words them. What
differs between front ends (how to add a source) is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence

from index.models import Abstention, Answer, Citation, Claim, Disagreement
from index.text import displayable, format_date

_PREPOSITIONS = {"since", "before", "after", "as", "in"}


def join_names(names: list[str], word: str = "or") -> str:
    quoted = [f"“{n}”" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" {word} " + quoted[-1]


def period_phrase(period: str) -> str:
    """"this week" -> "from this week"; "before 9 Feb 2020" stays as it is."""
    return period if period.split()[0] in _PREPOSITIONS else f"from {period}"


def abstention_sentence(a: Abstention, empty_hint: str) -> str:
    """"No indexed article mentions “X”; 12 articles from 3 Feb 2020 to 20 Feb 2020 are
    indexed." `empty_hint` says how to add a source, in the front end's terms."""
    if a.reason == "empty_index":
        return f"Nothing is indexed yet: {empty_hint}"
    if a.reason == "unverified":
        return "No quote could be verified against its article."
    scope = f" {period_phrase(a.period)}" if a.period else ""
    if a.reason == "unknown_names" and a.names:
        what = "mentions " + join_names(a.names)
    elif a.reason == "names_not_found" and a.names:
        what = f"{scope.strip()} mentions {join_names(a.names)}".strip()
        if a.found_with:
            what = (f"found{scope} mentions {join_names(a.names)} along with "
                    f"{join_names(a.found_with, 'and')}")
    elif a.reason == "period" and a.names:
        what = f"from {join_names(a.names)} answers this"
    elif a.reason == "period":
        what = f"{scope.strip()} answers this"
    else:
        what = f"{scope.strip()} answers this question".strip()
    span = f" from {format_date(a.first)} to {format_date(a.last)}" if a.first and a.last else ""
    return f"No indexed article {what}; {a.articles} articles{span} are indexed."


def citation_line(c: Citation) -> str:
    """"[1] Title — Publisher, 9 Feb 2020 <url>"."""
    line = f"[{c.n}] {c.title} — {c.source or 'unknown publisher'}, {format_date(c.published)}"
    return displayable(f"{line} <{c.url}>" if c.url else line)


def marks(n: int, also: Sequence[int] = ()) -> str:
    """"[1]", or "[1][3]" when other outlets say the same."""
    return "".join(f"[{k}]" for k in (n, *also))


def quote_line(text: str, n: int, also: Sequence[int] = ()) -> str:
    return f"“{displayable(text)}” {marks(n, also)}"


def disagreement_sentence(d: Disagreement) -> str:
    """"Sources differ: Newsbot Demo Wire reports 76 [1], Northline Courier reports 70 [2]
    (Syrian army troops)." """
    sides = ", ".join(f"{c.source or 'one report'} reports {c.value} [{c.citation}]"
                      for c in d.claims)
    return displayable(f"Sources differ: {sides}" + (f" ({d.about})." if d.about else "."))


def unshown(answer: Answer, d: Disagreement) -> list[Claim]:
    """The sides of a disagreement that the answer's quotes do not already show."""
    quoted = {q.text for q in answer.quotes}
    return [c for c in d.claims if c.text not in quoted]


def answer_text(answer: Answer, empty_hint: str) -> str:
    """The whole answer as plain text: the phrasing if any, the quotes, then the citations."""
    if answer.abstention is not None:
        return abstention_sentence(answer.abstention, empty_hint)
    lines = [answer.phrasing, ""] if answer.phrasing else []
    lines += [quote_line(q.text, q.citation, q.also) for q in answer.quotes]
    for d in answer.disagreements:
        lines += ["", disagreement_sentence(d)]
        lines += [quote_line(c.text, c.citation) for c in unshown(answer, d)]
    lines.append("")
    lines += [citation_line(c) for c in answer.citations]
    return "\n".join(lines)
