"""Stories with the real model: copies merged, distinct reports kept apart, several outlets
cited for one sentence, differing figures flagged, timelines in date order."""

from __future__ import annotations

import json

import pytest

from bot.render import answer_embeds
from index.cli import answer_json
from index.models import Filters
from index.stories import COPY_MIN, differing_figures, likeness, sketch
from index.text import normalise
from tests.conftest import make_engine

WIRE = ("The Fennmoor regional council approved a new tram line on Tuesday, linking the "
        "harbour district with the university campus. The line will be 9.5 kilometres long "
        "and will have 14 stops, the council's transport committee said. Construction is due "
        "to start in the spring of 2021 and the first trams should run in late 2023. The "
        "project will cost 212 million euros, most of it paid by the regional government. "
        "Councillor Ida Brenner, who chairs the committee, said the tram would take about "
        "6,000 cars off the roads every day. Opposition members argued that buses would have "
        "been cheaper and quicker to introduce.")
# the same wire story as another outlet runs it: a new first sentence, a few words changed
COPY = ("Fennmoor is getting a tram. The Fennmoor regional council approved a new tram line "
        "on Tuesday, linking the harbour district with the university campus. The line will "
        "be 9.5 kilometres long and will have 14 stops, the council's transport committee "
        "said. Construction is due to start in the spring of 2021 and the first trams should "
        "run in late 2023. The project will cost 212 million euros, most of it paid by the "
        "regional government. Councillor Ida Brenner, who chairs the committee, said the tram "
        "would take about 6,000 cars off the roads every day. Opposition members said that "
        "buses would have been cheaper and faster to introduce.")
# another outlet's own report of the same vote, with one figure that differs
OTHER = ("Fennmoor will build its first tram line after a council vote on Tuesday. Councillors "
         "backed the plan for a line from the harbour district to the university campus by 41 "
         "votes to 12. The project will cost 230 million euros, most of it paid by the "
         "regional government. Work is expected to begin next spring, and the route will have "
         "14 stops along its 9.5 kilometres. Supporters said the tram would ease traffic on "
         "the ring road, while critics called it a prestige project.")
# same subject, another town, another day: a different story
ELSEWHERE = ("The Oxley town council voted on Thursday to extend its bus network to the new "
             "housing estates in the east of the town. Six new routes will start in September, "
             "and buses will run every 15 minutes at peak times. The extension will cost 4 "
             "million euros a year, the council said. Oxley dropped plans for a tram in 2018 "
             "after a public consultation.")
LATER = ("The first rails of the Fennmoor tram line were laid on Monday at the harbour end of "
         "the route. Engineers said the line remained on schedule for its opening in late "
         "2023, and that the university stop would be the last to be finished.")


def _row(i, title, text, publisher, day, path="x"):
    return {"id": i, "title": title, "text": text, "publisher": publisher,
            "url": f"https://{publisher.split()[0].lower()}.example/{path}/{i}",
            "published": f"2020-06-{day:02d}T10:00:00Z"}


@pytest.fixture(scope="module")
def stories(tmp_path_factory, model):
    tmp = tmp_path_factory.mktemp("stories")
    rows = [
        _row("wire-tram", "Fennmoor council approves tram line", WIRE, "Valley Wire", 2),
        _row("post-tram", "Fennmoor is getting a tram", COPY, "Fennmoor Post", 2),
        _row("echo-tram", "Councillors back Fennmoor tram by 41 votes to 12", OTHER,
             "Lowland Echo", 3),
        _row("oxley-bus", "Oxley extends bus network to eastern estates", ELSEWHERE,
             "Valley Wire", 4),
        _row("wire-rails", "First rails laid for Fennmoor tram", LATER, "Valley Wire", 20),
    ]
    path = tmp / "tram.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    engine = make_engine(tmp / "data", model)
    engine.add_source(str(path), "tram")
    yield engine, tmp / "data"
    engine.close()


def _articles(engine):
    return engine.store.get_articles(
        r[0] for r in engine.store._q("SELECT id FROM articles"))


def test_a_lightly_edited_copy_is_merged_and_a_distinct_report_kept_apart(stories):
    engine, _ = stories
    arts = _articles(engine)
    assert arts["post-tram"].copy_of == "wire-tram"
    assert arts["post-tram"].story_id == arts["wire-tram"].story_id
    # another outlet's own report of the same vote: the same story, not a copy
    assert arts["echo-tram"].copy_of is None
    assert arts["echo-tram"].story_id == arts["wire-tram"].story_id
    # the same subject in another town, and the same topic weeks later: stories of their own
    assert arts["oxley-bus"].story_id != arts["wire-tram"].story_id
    assert arts["wire-rails"].story_id != arts["wire-tram"].story_id
    assert arts["oxley-bus"].copy_of is None and arts["wire-rails"].copy_of is None


def test_latest_lists_a_story_once_with_the_outlets_that_carry_it(stories):
    engine, _ = stories
    items = engine.latest(n=5)
    titles = [s.citation.title for s in items]
    assert titles == ["First rails laid for Fennmoor tram",
                      "Oxley extends bus network to eastern estates",
                      "Fennmoor council approves tram line"]
    tram = items[2]
    assert tram.citation.source == "Valley Wire"
    assert [c.source for c in tram.also] == ["Fennmoor Post", "Lowland Echo"]
    assert tram.also[0].url == "https://fennmoor.example/x/post-tram"
    assert (tram.first.day, tram.last.day) == (2, 3)


def test_a_topic_with_a_name_lists_only_stories_that_name_it(stories):
    engine, _ = stories
    items = engine.latest("Oxley buses", n=5)
    assert [s.citation.title for s in items] == ["Oxley extends bus network to eastern estates"]


def test_an_answer_quotes_once_and_cites_every_outlet_that_says_it(stories):
    engine, _ = stories
    a = engine.ask("How many stops will the Fennmoor tram line have?")
    assert not a.abstained
    first = a.quotes[0]
    assert "14 stops" in first.text
    cited = {c.n: c for c in a.citations}
    assert cited[first.citation].source in ("Valley Wire", "Fennmoor Post")
    assert {cited[n].source for n in [first.citation, *first.also]} == {"Valley Wire",
                                                                          "Fennmoor Post"}
    for n in first.also:  # each outlet cited for the sentence holds it verbatim
        art = engine.store.get_articles([cited[n].article_id])[cited[n].article_id]
        assert normalise(first.text) in normalise(art.text)
    # the copy's sentence is not spent as a second quote
    assert sum(normalise(q.text) == normalise(first.text) for q in a.quotes) == 1


def test_differing_figures_are_flagged_with_both_sides_quoted(stories):
    engine, _ = stories
    a = engine.ask("How much will the Fennmoor tram project cost?")
    assert not a.abstained
    [d] = a.disagreements
    values = {c.source: c.value for c in d.claims}
    assert values["Lowland Echo"] == "230"
    assert values.get("Valley Wire", values.get("Fennmoor Post")) == "212"
    cited = {c.n: c for c in a.citations}
    for claim in d.claims:
        art_id = cited[claim.citation].article_id
        assert claim.text in engine.store.get_articles([art_id])[art_id].text
    out = answer_json(a)  # as `newsbot ask --json` prints it
    assert {c["value"] for c in out["disagreements"][0]["claims"]} == {"212", "230"}
    assert "Sources differ:" in out["answer"] and "230" in out["answer"]
    [embed] = answer_embeds(a)  # as the bot shows it: both sides quoted once, and the flag
    desc = embed.description or ""
    assert "⚖ Sources differ: " in desc and "reports 230 [" in desc and "reports 212 [" in desc
    assert desc.count("cost 230 million euros") == 1 and desc.count("cost 212 million euros") == 1


def test_no_flag_where_the_figures_agree(stories):
    engine, _ = stories
    a = engine.ask("How long will the Fennmoor tram line be?")
    assert not a.abstained and "9.5 kilometres" in a.quotes[0].text
    assert a.disagreements == []


def test_a_timeline_is_in_date_order_and_every_entry_verbatim(stories):
    engine, _ = stories
    t = engine.timeline("Fennmoor tram")
    days = [e.published.day for e in t.entries]
    assert days == sorted(days) and days[0] == 2 and days[-1] == 20
    assert "Oxley" not in " ".join(e.quote.text for e in t.entries)
    cited = {c.n: c for c in t.citations}
    for e in t.entries:
        art = engine.store.get_articles([e.quote.article_id])[e.quote.article_id]
        assert art.text[e.quote.start:e.quote.end] == e.quote.text
        assert cited[e.quote.citation].article_id == art.id
    # the copy is not an entry of its own
    assert "post-tram" not in [e.quote.article_id for e in t.entries]


def test_a_server_does_not_see_another_servers_outlet_in_a_story(stories, tmp_path):
    engine, _ = stories
    # a server's own copy of the wire story: other servers are not told it exists
    path = tmp_path / "own.jsonl"
    path.write_text(json.dumps(_row("own-tram", "Tram for Fennmoor", WIRE.replace(
        "Opposition members", "Some councillors"), "Server Gazette", 2)) + "\n")
    engine.add_source(str(path), "own", server="111")
    try:
        other = engine.latest(n=5, filters=Filters(server="222"))
        tram = next(s for s in other if "tram line" in s.citation.title)
        assert "Server Gazette" not in [c.source for c in tram.also]
        mine = engine.latest(n=5, filters=Filters(server="111"))
        tram = next(s for s in mine if "tram line" in s.citation.title)
        assert "Server Gazette" in [c.source for c in tram.also]
    finally:
        engine.remove_source("own", server="111")


def test_minhash_likeness_separates_copies_from_rewrites():
    assert likeness(sketch(WIRE), sketch(COPY)) >= COPY_MIN
    assert likeness(sketch(WIRE), sketch(OTHER)) < COPY_MIN


def test_differing_figures_needs_the_same_sentence_but_for_the_figure():
    f = differing_figures("Turkish troops killed 76 Syrian soldiers, the ministry said.",
                          "Turkish troops killed 70 Syrian soldiers, the ministry said.")
    assert f is not None and (f.ours, f.theirs) == ("76", "70") and f.about == "Syrian soldiers"
    assert differing_figures("The port handled 1,420 ships.", "The port handled 1420 ships.") is None
    assert differing_figures("Five people were hurt in the crash on Monday.",
                             "The match ended 3-1 after 90 minutes of play.") is None


def test_removing_the_original_leaves_the_copy_whole(fake_engine, tmp_path):
    for name, row in (("wire", _row("wire-tram", "Fennmoor council approves tram line", WIRE,
                                    "Valley Wire", 2)),
                      ("post", _row("post-tram", "Fennmoor is getting a tram", COPY,
                                    "Fennmoor Post", 2))):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(row) + "\n")
        fake_engine.add_source(str(tmp_path / f"{name}.jsonl"), name)
    assert fake_engine.store.get_articles(["post-tram"])["post-tram"].copy_of == "wire-tram"
    [story] = fake_engine.latest(n=5)
    assert story.citation.article_id == "wire-tram" and story.also[0].article_id == "post-tram"
    fake_engine.remove_source("wire")
    [story] = fake_engine.latest(n=5)
    assert story.citation.article_id == "post-tram" and story.also == []
    hits = fake_engine.search("tram line 14 stops", k=3)
    assert {h.article.id for h in hits} == {"post-tram"}


def test_an_original_edited_after_its_copy_stays_the_original(fake_engine, tmp_path):
    wire = tmp_path / "wire.jsonl"
    post = tmp_path / "post.jsonl"
    wire.write_text(json.dumps(_row("wire-tram", "Fennmoor council approves tram line", WIRE,
                                    "Valley Wire", 2)) + "\n")
    post.write_text(json.dumps(_row("post-tram", "Fennmoor is getting a tram", COPY,
                                    "Fennmoor Post", 2)) + "\n")
    fake_engine.add_source(str(wire), "wire")
    fake_engine.add_source(str(post), "post")
    wire.write_text(json.dumps(_row("wire-tram", "Fennmoor council approves tram line",
                                    WIRE.replace("212", "213"), "Valley Wire", 2)) + "\n")
    assert fake_engine.refresh("wire")[0].updated == 1
    arts = fake_engine.store.get_articles(["wire-tram", "post-tram"])
    assert arts["wire-tram"].copy_of is None and arts["post-tram"].copy_of == "wire-tram"
    assert arts["wire-tram"].story_id == arts["post-tram"].story_id
    [story] = fake_engine.latest(n=5)
    assert story.citation.article_id == "wire-tram"
    assert [e.quote.article_id for e in fake_engine.timeline("Fennmoor tram").entries] == [
        "wire-tram"]


def test_stubs_are_never_copies(fake_engine, tmp_path):
    rows = [_row(f"stub-{i}", title, "Click here to read the full story.", "Valley Wire", 2 + i)
            for i, title in enumerate(["Harbour crane collapses", "Library opens at night"])]
    path = tmp_path / "stubs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fake_engine.add_source(str(path), "stubs")
    arts = fake_engine.store.get_articles(["stub-0", "stub-1"])
    assert arts["stub-0"].copy_of is None and arts["stub-1"].copy_of is None
    assert len(fake_engine.latest(n=5)) == 2
