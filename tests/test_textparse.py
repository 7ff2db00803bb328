from datetime import UTC, datetime

from index.sources import Fetcher, read_source
from index.textparse import html_to_text, parse_date, parse_text
from tests.conftest import shared_file


def test_the_scraped_sputnik_page_gets_its_headline_publisher_and_clean_body():
    path = shared_file("idlib_talks_sputnik.txt")
    [a] = read_source(str(path), "sputnik", Fetcher()).articles
    assert a.title == "Russia, Turkey Discussed Situation in Syria's Idlib - Turkish Foreign Ministry"
    assert a.publisher == "Sputnik"
    assert a.category == "World"
    assert a.text.startswith("ANKARA (Sputnik) - Russia and Turkey held talks in Ankara")
    assert "Sedat Onal and Sergei Vershinin" in a.text
    # page chrome: the photo credit, a related-story link and the trailing "Discuss"
    assert "\nSputnik\n" not in a.text
    assert "Ankara Expects Russian Military Officials" not in a.text
    assert not a.text.rstrip().endswith("Discuss")
    assert a.text.rstrip().endswith("controlled by terrorist groups.")


def test_front_matter_and_markdown_heading():
    a = parse_text("---\ntitle: Port record\nsource: Harbour Gazette\npublished: 2020-02-03\n"
                   "url: https://x.example/a\n---\nThe port handled more boxes.\n", markdown=True)
    assert (a.title, a.publisher, a.url) == ("Port record", "Harbour Gazette", "https://x.example/a")
    assert a.published == datetime(2020, 2, 3, tzinfo=UTC)
    b = parse_text("# A heading\n\nBody text here.\n", markdown=True)
    assert b.title == "A heading" and b.text == "Body text here."


def test_dates_in_every_usual_form():
    want = datetime(2020, 2, 8, 14, 0, tzinfo=UTC)
    assert parse_date("2020-02-08T14:00:00Z") == want
    assert parse_date("2020-02-08T16:00:00+02:00") == want
    assert parse_date("Sat, 08 Feb 2020 14:00:00 GMT") == want
    assert parse_date("February 8, 2020") == datetime(2020, 2, 8, tzinfo=UTC)
    assert parse_date("not a date") is None


def test_html_fragment_keeps_paragraphs():
    assert html_to_text("<p>One <b>two</b>.</p><p>Three<br>four.</p><script>x()</script>") == (
        "One two.\n\nThree\nfour."
    )


def test_feed_text_hard_wrapped_mid_sentence_is_one_sentence(tmp_path):
    from index.passages import sentence_spans

    desc = ("The council on Monday appointed Ilse Varga, a former ferry captain from Rotterdam,\n"
            "as the town&#39;s new harbour master, ending a\nsix-month search. Fish &amp; chips "
            "were served.")
    feed = tmp_path / "wrapped.xml"
    feed.write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Gazette</title>
<item><title>Harbour master named</title><link>https://gazette.example/hm</link>
<description>{desc.replace("&", "&amp;")}</description></item></channel></rss>""")
    [art] = read_source(str(feed), "gazette", Fetcher()).articles
    sentences = [art.text[s:e] for s, e in sentence_spans(art.text)]
    assert sentences[0] == ("The council on Monday appointed Ilse Varga, a former ferry captain "
                            "from Rotterdam, as the town's new harbour master, ending a six-month "
                            "search.")
    assert sentences[1] == "Fish & chips were served."
