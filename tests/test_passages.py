from hypothesis import given, settings
from hypothesis import strategies as st

from index.passages import sentence_spans, split_passages

TEXT = (
    "Russia and Turkey held talks in Ankara on Saturday. The talks lasted three hours.\n\n"
    "Mr. Onal led the Turkish side. Officials said they would meet again next week!\n\n"
    "Is a deal close? Nobody would say."
)


def test_sentences_are_exact_slices_and_respect_paragraphs():
    spans = sentence_spans(TEXT)
    sents = [TEXT[s:e] for s, e in spans]
    assert sents == [
        "Russia and Turkey held talks in Ankara on Saturday.",
        "The talks lasted three hours.",
        "Mr. Onal led the Turkish side.",
        "Officials said they would meet again next week!",
        "Is a deal close?",
        "Nobody would say.",
    ]


def test_passages_pack_whole_sentences_under_the_limit():
    ps = split_passages("a1", TEXT, max_words=12)
    assert [p.position for p in ps] == list(range(len(ps)))
    for p in ps:
        assert TEXT[p.start : p.end] == p.text
        assert len(p.text.split()) <= 12
        assert p.text.endswith((".", "!", "?"))
    assert " ".join(p.text for p in ps).split() == TEXT.split()


def test_passage_ids_are_stable_and_depend_on_content_and_title():
    a = split_passages("a1", TEXT)
    assert [p.id for p in a] == [p.id for p in split_passages("a1", TEXT)]
    assert a[0].id != split_passages("a2", TEXT)[0].id
    assert a[0].id != split_passages("a1", TEXT, salt="new title")[0].id
    assert a[0].id != split_passages("a1", TEXT.replace("three", "four"))[0].id


def test_a_sentence_longer_than_the_limit_is_cut_at_words():
    long = " ".join(f"word{i}" for i in range(500)) + "."
    ps = split_passages("x", long, max_words=150)
    assert len(ps) == 4
    assert all(len(p.text.split()) <= 150 and long[p.start : p.end] == p.text for p in ps)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc .!?\n\"'é")), min_size=0, max_size=400))
def test_offsets_always_point_into_the_text(text):
    for p in split_passages("h", text, max_words=20):
        assert text[p.start : p.end] == p.text
        assert p.text.strip() == p.text and p.text


def test_no_sentence_starts_mid_sentence():
    text = ('In its report, Is Online Community A Policy Tool?, the IPPR also asks if ID cards '
            'could help. He said: "We will be back." It ends here.')
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences[0] == ("In its report, Is Online Community A Policy Tool?, the IPPR also "
                            "asks if ID cards could help.")
    assert all(s[0].isupper() or s[0] == '"' for s in sentences), sentences


def test_passages_carry_their_sentence_offsets():
    """Sentences are found once, at index time, and stored with each passage: answers read
    them instead of splitting every candidate passage again for each question."""
    import json

    from index.passages import sentence_spans, split_passages
    from tests.conftest import DEMO

    n = 0
    for line in (DEMO / "articles.jsonl").read_text().splitlines():
        art = json.loads(line)
        for p in split_passages(art["id"], art["text"], max_words=60):
            assert p.sentences and p.sentences[0][0] == 0 and p.sentences[-1][1] == len(p.text)
            assert list(p.sentences) == sentence_spans(p.text)  # as splitting it again gives
            n += len(p.sentences)
    assert n > 40


_PIECES = ["It rained.", "It rained.", "Mr. Smith said so.", "\"We won. They lost.\"", "Prices rose 3.5%.",
           "Why?", "See the U.S. report", "and then", "No. 10 agreed!", " ", "  \n", "It rained.  ",
           "Gen. Smith and Lt. Col. Jones met in Jan.", "Now no one knows.", "approx. 5 km",
           "Sales fell in Feb. Ms. Lee left.", "(ed.) said it",
           # lists, which pysbd breaks apart: lettered, numbered, in parentheses or not
           "(a) the first item", "(b) the second", "1. One thing.", "2. Another.", "3) Third",
           "4) Fourth", "a. yes b. no", "(i) ours (ii) theirs"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12))
def test_sentences_are_located_as_pysbd_itself_locates_them(pieces):
    """The segmenter finds pysbd's sentences in the text without a pattern per sentence; the
    spans are pysbd's own, repeated sentences and white space included."""
    import pysbd

    from index.passages import _segmenter

    text = " ".join(pieces)
    reference = pysbd.Segmenter(language="en", clean=False, char_span=True).segment(text)
    ours = _segmenter().segment(text)
    assert [(s.start, s.end, s.sent) for s in ours] == [(s.start, s.end, s.sent)
                                                       for s in reference]


def test_many_articles_are_split_ahead_on_another_thread_as_here(monkeypatch):
    """From SPLIT_AHEAD articles on, another thread splits them while the caller goes on; the
    passages are the same, in the same order."""
    import threading

    import index.passages as passages

    threads = []
    split_many = passages._split_many

    def recorded(items):
        threads.append(threading.current_thread().name)
        return split_many(items)

    monkeypatch.setattr(passages, "_split_many", recorded)
    monkeypatch.setattr(passages, "SPLIT_AHEAD", 10)
    monkeypatch.setattr(passages, "SPLIT_BATCH", 7)
    items = [(f"a{i}", TEXT.replace("Saturday", f"day {i}") * (1 + i % 3), f"Title {i}")
             for i in range(40)]
    want = [split_passages(aid, text, salt=title) for aid, text, title in items]
    assert list(passages.split_ahead(items)) == want
    assert len(threads) == 6 and all(t.startswith("newsbot-split") for t in threads)
    assert list(passages.split_ahead(items[:9])) == want[:9] and len(threads) == 6
