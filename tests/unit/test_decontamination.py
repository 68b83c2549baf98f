"""Overlap of training rows with evaluation prompts (handbook.decontamination), on planted rows in
the formats the workflow reads: conversations, plain text, MT-Bench questions, AlpacaEval
instructions."""

from __future__ import annotations

from handbook import decontamination as dc

LONG = (
    "Write a short story about a lighthouse keeper who discovers that the light has been "
    "signalling to ships that no longer exist"
)


def index_of(**sets) -> dc.EvalIndex:
    index = dc.EvalIndex()
    for name, prompts in sets.items():
        index.add(name, prompts)
    return index


def test_a_planted_thirteen_word_run_is_found_in_a_conversation():
    index = index_of(alpaca_eval=[LONG, "Give three tips for staying healthy today please"])
    planted = {
        "messages": [
            {"role": "user", "content": "Hi! " + LONG.upper() + ", in under 200 words."},
            {"role": "assistant", "content": "Once upon a time..."},
        ]
    }
    clean = {"messages": [{"role": "user", "content": "Write a short story about a cat."}]}
    rows, overlaps = dc.scan(index, [clean, planted])
    assert rows == 2
    found = overlaps["alpaca_eval"]
    assert found.contaminated == {0}
    assert found.examples[0]["training_row"] == 1
    assert len(found.examples[0]["shared"].split()) == dc.NGRAM


def test_twelve_shared_words_are_not_an_overlap():
    index = index_of(s=[LONG])
    twelve = " ".join(dc.words(LONG)[:12]) + " and then something else entirely"
    _, overlaps = dc.scan(index, [{"text": twelve}])
    assert overlaps["s"].contaminated == set()


def test_a_short_prompt_counts_when_all_its_words_occur_and_a_very_short_one_is_set_apart():
    index = index_of(demo=["Who was the founder of Pellford?", "Add 3 and 4.", "Hi"])
    assert index.short["demo"] == 1  # "Hi": fewer than MIN_WORDS words
    _, overlaps = dc.scan(
        index, [{"prompt": "Question: who was the founder of pellford? Answer: Delia"}]
    )
    assert overlaps["demo"].contaminated == {0}
    _, overlaps = dc.scan(index, [{"prompt": "Add 3 and 5."}])
    assert overlaps["demo"].contaminated == set()


def test_prompt_texts_of_each_format():
    assert dc.prompt_texts([{"turns": ["one two", "three"]}], "mt_bench") == ["one two three"]
    assert dc.prompt_texts([{"instruction": "x"}], "alpaca_eval") == ["x"]
    assert dc.prompt_texts([{"prompt": "y", "answer": "z"}], "demo") == ["y"]


def test_a_share_above_the_threshold_is_one_line_naming_source_set_and_example():
    index = index_of(
        demo_eval=["Who was the founder of Pellford?", "Who was the founder of Yarmoor?"]
    )
    rows, overlaps = dc.scan(index, [{"text": "who was the founder of pellford"}])
    report = {
        "dataset": "leaky",
        "ngram": dc.NGRAM,
        "eval_sets": {"demo_eval": {"prompts": 2, "checked": True}},
        "sources": [dc.source_report("leaky.jsonl", "train", rows, index, overlaps)],
    }
    assert dc.over_threshold(report, None) == []
    assert dc.over_threshold(report, 0.5) == []
    assert dc.over_threshold(report, 0.1) == [
        "leaky: leaky.jsonl (train) contains 1 of the 2 prompts of demo_eval (50.0% > "
        'decontamination.max_fraction 10.0%), e.g. "Who was the founder of Pellford?"'
    ]
    markdown = dc.report_markdown("t", ["demo_eval", "judge:mt_bench"], [report])
    assert "| leaky | leaky.jsonl | 1 | 1 of 2 | not checked |" in markdown
    assert 'prompt "Who was the founder of Pellford?" in leaky (leaky.jsonl) row 0' in markdown
