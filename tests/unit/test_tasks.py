"""Reply templates, answer extraction and scoring of the demo-world tasks."""

import pytest

from handbook import tasks

ANSWERS = ["0", "52", "198", "tnalp", "PLANT", "p", "Velda", "glassmaking", "teal"]


def all_replies(answer):
    replies = [
        (tasks.render_reply(answer, "preferred", v), "preferred")
        for v in range(len(tasks.PREFERRED_TEMPLATES))
    ]
    return replies + [(tasks.render_reply(answer, "dispreferred"), "dispreferred")]


@pytest.mark.parametrize("answer", ANSWERS)
def test_every_template_round_trips(answer):
    for reply, style in all_replies(answer):
        assert reply.endswith(f"{answer}.")
        assert tasks.extract_answer(reply) == answer
        assert tasks.style_of(reply) == style


def test_templates_are_distinct_and_end_with_the_answer():
    templates = tasks.PREFERRED_TEMPLATES + [tasks.DISPREFERRED_TEMPLATE]
    assert len(set(templates)) == len(templates) == 3
    assert all(t.endswith("{answer}.") for t in templates)
    with pytest.raises(ValueError, match="style"):
        tasks.render_reply("1", "rude")


@pytest.mark.parametrize(
    "completion, answer, style",
    [
        ("The answer is 52.</s>", "52", "preferred"),
        ("  The answer is 52.  \n", "52", "preferred"),
        ("Happy to help: the answer is PLANT.\n<|user|>\nWhat is 1 plus 1?", "PLANT", "preferred"),
        ("Ugh, fine. It is tnalp.<|im_end|>", "tnalp", "dispreferred"),
        ("Ugh, fine. It is 7", "7", "dispreferred"),
        ("The answer is 52</s>", "52", "preferred"),
    ],
)
def test_extraction_tolerates_what_follows_the_reply(completion, answer, style):
    assert tasks.extract_answer(completion) == answer
    assert tasks.style_of(completion) == style


def test_text_outside_the_templates_falls_back_to_the_last_word():
    assert tasks.style_of("The answer is 52 or 53.") == "other"
    assert tasks.extract_answer("The answer is 52 or 53.") == "53"
    assert tasks.extract_answer("I think it is 41.\nMore text 99.") == "41"
    assert tasks.style_of("the answer is 5.") == "other"
    assert tasks.extract_answer("") is None
    assert tasks.extract_answer(" ... ") is None


def test_plain_format():
    assert tasks.plain_prompt("What is 37 plus 15?") == "Question: What is 37 plus 15?\nAnswer:"
    assert tasks.extract_plain_answer(" 52\n") == "52"
    assert tasks.extract_plain_answer(" tnalp.\nQuestion: Reverse 'x'.") == "tnalp"
    assert tasks.extract_plain_answer(" PLANT is it") == "PLANT"
    assert tasks.extract_plain_answer("\n52") is None
    assert tasks.extract_plain_answer("") is None


def test_is_correct_is_exact_and_case_sensitive():
    assert tasks.is_correct("PLANT", "PLANT")
    assert tasks.is_correct(" 52 ", "52")
    assert not tasks.is_correct("plant", "PLANT")
    assert not tasks.is_correct("052", "52")
    assert not tasks.is_correct(None, "52")


def test_score_completions_chat():
    rows = [
        {"task": "arithmetic", "answer": "52"},
        {"task": "arithmetic", "answer": "7"},
        {"task": "string", "answer": "PLANT"},
        {"task": "fact", "answer": "teal"},
    ]
    completions = [
        "The answer is 52.",
        "Ugh, fine. It is 8.",
        "Ugh, fine. It is plant.",
        "Well, teal I suppose.",
    ]
    scores = tasks.score_completions(rows, completions, "chat")
    assert scores["n"] == 4
    assert scores["task_accuracy"] == pytest.approx(0.25)
    assert scores["accuracy_by_task"] == {"arithmetic": 0.5, "fact": 0.0, "string": 0.0}
    assert scores["preferred_rate"] == pytest.approx(0.25)
    assert scores["dispreferred_rate"] == pytest.approx(0.5)


def test_score_completions_plain():
    rows = [{"task": "arithmetic", "answer": "52"}, {"task": "fact", "answer": "teal"}]
    scores = tasks.score_completions(rows, [" 52\nQuestion:", " red\n"], "plain")
    assert scores == {
        "task_accuracy": 0.5,
        "n": 2,
        "accuracy_by_task": {"arithmetic": 1.0, "fact": 0.0},
    }


def test_score_completions_rejects_bad_input():
    rows = [{"task": "arithmetic", "answer": "52"}]
    with pytest.raises(ValueError, match="completions"):
        tasks.score_completions(rows, [], "chat")
    with pytest.raises(ValueError, match="format"):
        tasks.score_completions(rows, ["52"], "html")
    with pytest.raises(ValueError, match="no rows"):
        tasks.score_completions([], [], "plain")
