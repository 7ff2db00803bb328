"""The `newsbot` command line."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Iterator
from typing import IO, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from index.engine import Engine, IndexReport
from index.errors import NewsbotError, SourceError, UnknownSource
from index.models import Answer, Filters, Summary, Timeline
from index.settings import IndexSettings
from index.text import format_date
from index.wording import answer_text, citation_line, quote_line

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="newsbot: cited answers from the news you index.")
index_app = typer.Typer(no_args_is_help=True, help="Add, list, refresh and remove news sources.")
app.add_typer(index_app, name="index")
err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
SinceOpt = Annotated[str | None, typer.Option(
    "--since", help="Only articles published on or after this date (2020-02-10, '10 Feb 2020').")]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", help="Only articles published on or before this date.")]
SourceOpt = Annotated[list[str] | None, typer.Option(
    "--source", help="Only articles from this source (by name; repeatable).")]
AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Answer as the index stood on this day: later articles are hidden and "
                    "'this week' means that day's week.")]
ServerOpt = Annotated[str | None, typer.Option(
    "--server", help="As a member of this Discord server (its id) sees the news: the global "
                     "sources and that server's own.")]
EMPTY_HINT = "add a source with `newsbot index add`."


def _engine() -> Engine:
    """The engine for this command, closed when the command ends (it holds the embedded
    store while open)."""
    try:
        engine = Engine.from_settings(IndexSettings())
    except NewsbotError as exc:
        _fail(exc)
    _open.append(engine)
    return engine


_open: list[Engine] = []


@app.callback()
def _command(ctx: typer.Context) -> None:
    """newsbot: cited answers from the news you index."""
    ctx.call_on_close(_close_engines)


def _close_engines() -> None:
    while _open:
        _open.pop().close()


def _fail(exc: Exception) -> NoReturn:
    err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
    raise typer.Exit(1)


def _hinted(exc: NewsbotError) -> NewsbotError:
    if isinstance(exc, UnknownSource):
        return NewsbotError(f"{exc} (see `newsbot index list`)")
    return exc


def _questions(args: list[str]) -> Iterator[str]:
    """The questions given, stdin's lines for "-"; an empty question is an error, said once."""
    empty = False
    for a in args:
        if a == "-":
            for line in sys.stdin:
                if line.strip():
                    yield line.strip()
        elif a.strip():
            yield a.strip()
        else:
            empty = True
    if empty:
        _fail(NewsbotError("the question is empty"))


def _filters(since: str | None, until: str | None, sources: list[str] | None,
             as_of: str | None, server: str | None = None) -> Filters:
    try:
        if server is not None and not server.strip().isdigit():
            raise NewsbotError(f"--server: {server!r} is not a Discord server id")
        return Filters.parse(since, until, sources, as_of, server=server)
    except NewsbotError as exc:
        _fail(exc)


def answer_json(a: Answer) -> dict[str, Any]:
    """`ask --json`: the answer as data, with its plain-text wording in `answer`."""
    return {
        "question": a.question,
        "abstained": a.abstained,
        "answer": answer_text(a, EMPTY_HINT),
        "quotes": [{"text": q.text, "citation": q.citation, "score": q.score, "also": q.also}
                   for q in a.quotes],
        "citations": [c.to_json() for c in a.citations],
        "abstention": a.abstention.to_json() if a.abstention else None,
        "phrasing": a.phrasing,
        "disagreements": [d.to_json() for d in a.disagreements],
    }


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


class _Bar:
    """A rich progress bar on stderr, fed by the engine's progress callback."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task: Any = None
        self.current: str | None = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            self.progress = Progress(
                TextColumn("embedding {task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("passages"), TimeElapsedColumn(), console=err, transient=False,
            )
            self.progress.start()
        return self

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.progress is None or total == 0:
            return
        if self.task is None or self.current != what:
            self.task = self.progress.add_task(what, total=total)
            self.current = what
        self.progress.update(self.task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()


def _report_line(r: IndexReport) -> str:
    if r.error:
        return f"{r.source}: failed: {r.error}"
    return f"{r.source}: {r.counts()}, {r.embedded} passages embedded in {r.seconds:.1f}s"


@index_app.command("add")
def index_add(
    source: Annotated[str, typer.Argument(help="File, folder, feed URL/file or web page URL.")],
    name: Annotated[str | None, typer.Option("--name", help="Name for the source.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a source and index it (re-adding a known source refreshes it)."""
    engine = _engine()
    try:
        with _Bar(not as_json) as bar:
            report = engine.add_source(source, name, progress=bar)
    except NewsbotError as exc:
        if as_json:
            _emit({"source": name or source, "error": str(exc)})
        if isinstance(exc, SourceError) and engine.store.source_by_name(exc.source):
            # registered, so `index refresh` tries it again; say how to drop it
            _fail(NewsbotError(f"{exc} (kept as a source that is retried on refresh; "
                               f"`newsbot index remove {exc.source}` removes it)"))
        _fail(exc)
    if as_json:
        _emit(report.to_json())
    else:
        out.print(_report_line(report))
    for p in report.problems:
        err.print(f"warning: {p}", highlight=False)


@index_app.command("list")
def index_list(as_json: JsonOpt = False, server: ServerOpt = None) -> None:
    """The sources, with article and passage counts, last refresh and last error: every
    server's, or with --server what that server sees (the global ones and its own)."""
    _filters(None, None, None, None, server)  # checks the id
    sources = _engine().list_sources(server=server.strip() if server else None,
                                     everything=server is None)
    if as_json:
        for s in sources:
            _emit(s.to_json())
        return
    if not sources:
        out.print("No sources yet: `newsbot index add FILE_OR_URL`.")
    for s in sources:
        when = s.last_refresh.strftime("%Y-%m-%d %H:%M UTC") if s.last_refresh else "never"
        scope = f"server {s.server}" if s.server else "global"
        out.print(f"{s.name}\t{scope}\t{s.kind}\t{s.articles} articles\t{s.passages} passages"
                  f"\trefreshed {when}\t{s.location}")
        if s.last_error:
            out.print(f"  last error: {s.last_error}")


@index_app.command("refresh")
def index_refresh(
    name: Annotated[str | None, typer.Argument(help="One source; all when omitted.")] = None,
    as_json: JsonOpt = False,
    server: Annotated[str | None, typer.Option(
        "--server", help="That Discord server's sources (a name is looked up there).")] = None,
) -> None:
    """Re-read one source or all of them (every server's too, unless --server); unchanged
    articles are not embedded again."""
    _filters(None, None, None, None, server)  # checks the id
    engine = _engine()
    try:
        with _Bar(not as_json) as bar:
            reports = engine.refresh(name, progress=bar,
                                     server=server.strip() if server else None)
    except NewsbotError as exc:
        _fail(_hinted(exc))
    failed = False
    for r in reports:
        failed |= bool(r.error)
        if as_json:
            _emit(r.to_json())
        elif r.error:
            err.print(f"error: {r.error}", highlight=False)
        else:
            out.print(_report_line(r))
    if failed:
        raise typer.Exit(1)


@index_app.command("remove")
def index_remove(
    name: str,
    server: Annotated[str | None, typer.Option(
        "--server", help="Remove that Discord server's source of this name.")] = None,
) -> None:
    """Remove a source and its passages (articles another source holds stay)."""
    _filters(None, None, None, None, server)  # checks the id
    try:
        n = _engine().remove_source(name, server=server.strip() if server else None)
    except NewsbotError as exc:
        _fail(_hinted(exc))
    out.print(f"removed {name} ({n} passages)")


# a question may start with "-" ("-40 degrees in Oslo?"): unknown options are questions
QUESTION_CONTEXT = {"ignore_unknown_options": True}


@app.command(context_settings=QUESTION_CONTEXT)
def search(
    question: Annotated[list[str], typer.Argument(help="Questions; - reads them from stdin.")],
    as_json: JsonOpt = False,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many results.")] = 10,
    since: SinceOpt = None, until: UntilOpt = None, source: SourceOpt = None,
    as_of: AsOfOpt = None, server: ServerOpt = None,
) -> None:
    """The best matching passages for each question, with their scores."""
    filters = _filters(since, until, source, as_of, server)
    engine = _engine()
    for q in _questions(question):
        hits = engine.search(q, k=k, filters=filters)
        if as_json:
            _emit({"question": q, "results": [h.to_json() for h in hits]})
            continue
        out.print(f"[bold]{q}[/bold]")
        for i, h in enumerate(hits, 1):
            date = h.article.published.date().isoformat() if h.article.published else "undated"
            out.print(f"{i:2}. {h.score:.3f}  {h.article.title} — {h.article.publisher or '?'},"
                      f" {date}  [{h.article.id}]", markup=False)
            out.print(f"      {h.passage.text[:200]}", markup=False)


@app.command(context_settings=QUESTION_CONTEXT)
def ask(
    question: Annotated[list[str], typer.Argument(help="Questions; - reads them from stdin.")],
    as_json: JsonOpt = False,
    since: SinceOpt = None, until: UntilOpt = None, source: SourceOpt = None,
    as_of: AsOfOpt = None, server: ServerOpt = None,
) -> None:
    """A quoted, cited answer to each question, or a plain statement that the news has none."""
    filters = _filters(since, until, source, as_of, server)
    engine = _engine()
    for q in _questions(question):
        a = engine.ask(q, filters=filters)
        if as_json:
            _emit(answer_json(a))
        else:
            out.print(answer_text(a, EMPTY_HINT) + "\n", markup=False)


@app.command()
def latest(
    topic: Annotated[str | None, typer.Argument(help="Optional topic.")] = None,
    as_json: JsonOpt = False,
    n: Annotated[int, typer.Option("-n", min=1, max=100, help="How many articles.")] = 5,
    since: SinceOpt = None, until: UntilOpt = None, source: SourceOpt = None,
    server: ServerOpt = None,
) -> None:
    """The most recent articles (optionally on a topic) with short summaries."""
    items = _engine().latest(topic, n=n, filters=_filters(since, until, source, None, server))
    if as_json:
        for s in items:
            _emit(s.to_json())
        return
    if not items:
        out.print("No indexed article" + (f" on {topic}." if topic else "."))
    print_latest(out, items)


def print_latest(console: Console, items: list[Summary]) -> None:
    for s in items:
        console.print(citation_line(s.citation), markup=False)
        console.print("    " + " ".join(s.sentences), markup=False)
        if s.also:
            outlets = [(c.source or "unknown publisher", c.url) for c in s.also]
            console.print("    also reported by: " + "; ".join(
                f"{name} <{url}>" if url else name for name, url in outlets), markup=False)
        console.print("")


@app.command()
def timeline(
    topic: Annotated[str, typer.Argument(help="What the timeline is about.")],
    as_json: JsonOpt = False,
    n: Annotated[int, typer.Option("-n", min=1, max=50, help="How many reports.")] = 10,
    since: SinceOpt = None, until: UntilOpt = None, source: SourceOpt = None,
    server: ServerOpt = None,
) -> None:
    """A topic's reports in date order, each by its key sentence, quoted and cited."""
    t = _engine().timeline(topic, n=n, filters=_filters(since, until, source, None, server))
    if as_json:
        _emit(t.to_json())
        return
    print_timeline(out, t)


def print_timeline(console: Console, t: Timeline) -> None:
    if not t.entries:
        console.print(f"No indexed article on {t.topic}.", markup=False)
        return
    for e in t.entries:
        line = quote_line(e.quote.text, e.quote.citation, e.quote.also)
        console.print(f"{format_date(e.published)}  {line}", markup=False)
    console.print("")
    for c in t.citations:
        console.print(citation_line(c), markup=False)


SHELL_HELP = """Type a question to ask it, or one of:
  ask QUESTION | search QUERY | latest [TOPIC] | timeline TOPIC | sources | refresh [NAME] |
  add SOURCE | help | quit"""


@app.command()
def shell() -> None:
    """An interactive session with the same commands as the bot."""
    engine = _engine()
    run_shell(engine, sys.stdin, out)


def run_shell(engine: Engine, stream: IO[str], console: Console) -> None:
    console.print(SHELL_HELP, markup=False)
    while True:
        if stream.isatty():
            console.print("newsbot> ", end="", markup=False)
        line = stream.readline()
        if not line:
            return
        line = line.strip()
        if not line:
            continue
        cmd, _, rest = line.partition(" ")
        cmd = cmd.lower()
        try:
            if cmd in ("quit", "exit"):
                return
            if cmd == "help":
                console.print(SHELL_HELP, markup=False)
            elif cmd == "search":
                for h in engine.search(rest, k=5):
                    console.print(f"{h.score:.3f} {h.article.title} — {h.article.publisher}: "
                                  f"{h.passage.text[:160]}", markup=False)
            elif cmd == "latest":
                print_latest(console, engine.latest(rest or None))
            elif cmd == "timeline" and rest:
                print_timeline(console, engine.timeline(rest))
            elif cmd == "sources":
                for src in engine.list_sources():
                    console.print(f"{src.name}: {src.articles} articles, {src.passages} passages"
                                  + (f" (last error: {src.last_error})" if src.last_error else ""),
                                  markup=False)
            elif cmd == "refresh":
                for r in engine.refresh(rest or None):
                    console.print(_report_line(r), markup=False)
            elif cmd == "add":
                args = shlex.split(rest)
                if not args:
                    console.print("usage: add FILE_OR_URL [NAME]", markup=False)
                else:
                    report = engine.add_source(args[0], args[1] if len(args) > 1 else None)
                    console.print(_report_line(report), markup=False)
            else:
                q = rest if cmd == "ask" else line
                console.print(answer_text(engine.ask(q), EMPTY_HINT), markup=False)
        except NewsbotError as exc:
            console.print(f"error: {exc}", markup=False)
        except ValueError as exc:  # unbalanced quotes in `add`
            console.print(f"error: {exc}", markup=False)
        console.print("", markup=False)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
