"""Every tuned constant of search and answers, in one typed configuration.

Each value names the data and the benchmark run that chose it. Values fitted to data were fitted
on a tuning split and reported on another (docs/BENCHMARKS.md): RealTime QA quizzes dated 2023
tune, those from 2024 on report; SQuAD 2.0 dev is split by article into a calibration half and a
reported half.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoringConfig:
    # -- search (bench/realtimeqa.py --sweep: cosine + 0.2 * bm25/max beat dense and 0.1-0.5) -----
    lexical_weight: float = 0.2
    # the lexical query ORs at most this many of the question's words, the rarest in the index
    # (None: all of them), and the candidates found are scored by BM25 under the whole question
    # (search.bm25). bench/lexical.py: 4 chosen on RealTime QA before 2024 (fusion Hits@1 0.582
    # at 4 and 6, 0.586 with all words), reported on 2024 on (0.553 against 0.551); search at
    # 100k passages p50 36 ms, p95 109 ms, against 144 / 264 with all words. SQLite only.
    lexical_terms: int | None = 4
    # and only the rarest of those whose passage counts add up to at most this many (None: no
    # cap): what the lexical query reads and ranks stays bounded as the index grows. It binds
    # only past about 20k passages (each word of a smaller index is in fewer), so RealTime QA
    # (5,011 passages) cannot measure its cost: words in more passages than that still score
    # every candidate through BM25, they only stop finding candidates. bench/backends.py at
    # 1M passages: docs/BENCHMARKS.md.
    lexical_postings: int | None = 20_000
    # mild preference for recent news, age counted from when the question is asked
    recency_weight: float = 0.1
    recency_half_life_days: float = 14.0
    # "latest"/"recent" questions: a boost relative to the newest relevant article
    latest_weight: float = 0.2
    latest_half_life_days: float = 3.0
    latest_relevance_margin: float = 0.15
    # candidates each retriever returns before fusion
    candidates: int = 50
    # added for articles inside a year or month the question names
    window_boost: float = 0.05
    # `search` may reorder its top passages with the answer ranker: score += weight * ranker
    # (passage read with its headline). 0 = off. Tuned with bench/realtimeqa.py --rerank on
    # RealTime QA 2023, reported on 2024 on.
    search_rerank_weight: float = 0.0
    search_rerank_depth: int = 10

    # -- answers (bench/answers.py) ---------------------------------------------------------------
    passages_read: int = 6  # best passages whose sentences the ranker scores
    # and every passage of the best two articles (no effect on RealTime QA, whose articles are
    # one passage each; the demo and BBC articles run to two to five)
    whole_articles: int = 2
    max_quotes: int = 3
    # the ranker reads at most this many candidates (None: all), the most promising by their
    # article's retrieval score and the question's words they or the sentence before them hold
    # (answer.shortlist); it costs a few milliseconds a sentence, and long articles give 40 to
    # 100 candidates. bench/shortlist.py (news-length articles from SQuAD 2.0 dev), calibration
    # half, 58 candidates a question: the smallest list whose answerable questions' best score
    # falls under min_answer_score at most 3 points more often than with every candidate read,
    # with a first quote as good: 6 (first quote holds an answer 0.780 against 0.773, best
    # under the threshold 0.167 against 0.137; at 4, 0.790 and 0.173). The sentence before
    # counts at 0 or 0.5 within one question of 300; 0.5 keeps the answer that follows the
    # sentence naming the subject ("The delegations included ..."). Reported half: 0.707
    # against 0.703, 0.110 against 0.087.
    ranker_shortlist: int | None = 6
    shortlist_neighbour: float = 0.5
    # The ranker's score (a probability from BCE training) below which no sentence answers, and
    # the sentence score: ranker + retrieval_weight * (its article's best passage score), so the
    # ranker decides within an article and retrieval chooses between articles. Both chosen by
    # bench/answers.py --calibrate on the SQuAD 2.0 dev calibration half and RealTime QA 2023
    # for the ranker shipped at this commit (trained with the team's BBC questions,
    # docs/BENCHMARKS.md), reported on the other halves: first quote holds the answer on
    # RealTime QA 2023 0.634 at weight 0, 0.824 at 2, 0.832 at 4 and at 8 (the smaller kept);
    # the threshold with the largest unanswerable-minus-answerable abstention on SQuAD 2.0 with
    # at most 0.15 of its answerable and 0.08 of RealTime QA 2023 abstained: 0.50 (0.293 and
    # 0.144 of SQuAD's, 0.034 of RealTime QA's).
    min_answer_score: float = 0.50
    retrieval_weight: float = 4.0
    # another quote must reach this share of the best quote's ranker score, and come from
    # another article (confirmation) or answer at least as surely as the first (another part).
    # bench/answers.py --calibrate-quotes on RealTime QA 2023: of the ratios with at most 2
    # quotes an answer, the most answers some quote holds: 0.9 (0.763, 1.82 quotes; 0.8 had
    # 0.763 with 2.11, 0.85 0.761 with 1.98, 0.95 0.752 with 1.63).
    second_quote_ratio: float = 0.9
    # at least this share of the question's names must appear in what was retrieved, or the
    # ranker's best score must reach `names_missing_score` (None: decline whenever they are
    # missing). A quiz question often names things its evidence words otherwise, and a
    # question about something not indexed names what nothing found holds.
    # bench/answers.py --calibrate-names (RealTime QA 2023 and the tuning half of MultiHop-RAG's
    # null queries; the most first quotes plus null queries declined): None, 0.716 + 0.879;
    # 0.95: 0.725 + 0.848; 0.9: 0.748 + 0.758; 0.8: 0.767 + 0.697; each beside
    # common_name_share None.
    min_name_coverage: float = 0.5
    names_missing_score: float | None = None
    # a name held by more than this share of the passages does not count in that check (None:
    # every name counts). SQLite only: PostgreSQL keeps no counts, and every name counts there.
    # --calibrate-names, same criterion: 0.005, 0.752 + 0.909 (0.01: 0.721 + 0.939; 0.05:
    # 0.721 + 0.909). Reported: RealTime QA 2024+ first quote 0.686 -> 0.694, wrongly abstained
    # 0.160 -> 0.147; the other null queries and the off-topic list declined 0.793 -> 0.828.
    # The counts are of the whole index, other servers' sources included: what they hold can
    # only make a name count less in this check (an answer still quotes only what the asker
    # sees).
    common_name_share: float | None = 0.005
    # and by more than this many: in a small index every name is a large share (25 is that
    # share of the RealTime QA index it was tuned on)
    common_name_min_passages: int = 25
    # without the ranker (NEWSBOT_RERANKER=off): the cosine under which nothing is on the
    # subject (RealTime QA, docs/BENCHMARKS.md before the ranker)
    min_similarity: float = 0.42

    # -- summaries (bench/summaries.py) ---------------------------------------------------------
    # a topic's articles must reach this fused score to count as on the topic
    topic_min_score: float = 0.35


DEFAULT = ScoringConfig()
