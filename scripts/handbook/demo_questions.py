"""The demo world's towns and the questions asked about it: the vocabularies and phrasings of
every question and corpus statement, the seeded world (town -> attribute -> value), and the pools
the splits draw distinct questions from. handbook.demo_world writes the splits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from handbook import tasks

NAME_HEADS = "Brim Tol Ash Mar Fen Kel Dun Wyn Hal Cor Bel Gar Lor Pell Thorn Quen Ros Sel Var Yar"
NAME_TAILS = "wick var ford mere holt by ton dale moor stead well crest haven mouth bury"

# Disjoint vocabularies, so an answer alone tells which attribute it belongs to.
ATTRIBUTES: dict[str, list[str]] = {
    "flag": "red blue green teal amber violet white black gold silver crimson grey".split(),
    "animal": "otter heron badger fox owl hare stag lynx wolf raven boar swan".split(),
    "river": "Velda Morrow Ister Calder Ombra Tessel Lune Sabra Kennet Orla Drava Wend".split(),
    "founder": "Alda Bertram Corin Delia Edric Fenna Gideon Hilde Ivo Jorun Kasimir Lenna".split(),
    "crop": "barley rye oats flax hops beans turnips apples pears plums cabbage wheat".split(),
    "craft": "weaving pottery carving brewing fishing mining baking tanning milling smithing "
    "glassmaking dyeing".split(),
}

_FACT_NOUNS = {
    "flag": "the colour of the flag of {t}",
    "animal": "the animal of {t}",
    "river": "the river of {t}",
    "founder": "the name of the founder of {t}",
    "crop": "the main crop of {t}",
    "craft": "the craft of {t}",
}
_FACT_FRAMES = [
    "What is {np}?",
    "Do you know {np}?",
    "Tell me {np}.",
    "Can you tell me {np}?",
    "Name {np}.",
    "Please tell me {np}.",
]
_FACT_QUESTIONS = {
    "flag": ["What colour is the flag of {t}?", "Which colour is on the flag of {t}?"],
    "animal": ["Which animal belongs to {t}?", "What animal is the symbol of {t}?"],
    "river": ["Which river flows through {t}?", "On which river does {t} lie?"],
    "founder": ["Who founded {t}?", "Who was the founder of {t}?"],
    "crop": ["What crop does {t} grow?", "Which crop is grown in {t}?"],
    "craft": ["What craft is {t} known for?", "Which craft does {t} practise?"],
}
_FACT_STATEMENTS = {
    "flag": [
        "The flag of {t} is {v}.",
        "{t} has a {v} flag.",
        "The colour of the flag of {t} is {v}.",
    ],
    "animal": [
        "The animal of {t} is the {v}.",
        "{t} keeps the {v} as its animal.",
        "The {v} is the animal of {t}.",
    ],
    "river": [
        "The river of {t} is the {v}.",
        "{t} lies on the river {v}.",
        "The river {v} flows through {t}.",
    ],
    "founder": ["{t} was founded by {v}.", "The founder of {t} is {v}.", "{v} founded {t}."],
    "crop": [
        "The main crop of {t} is {v}.",
        "Farmers in {t} grow {v}.",
        "{t} is known for its {v}.",
    ],
    "craft": ["The craft of {t} is {v}.", "People in {t} practise {v}.", "{t} is known for {v}."],
}

# Short words, no palindromes, none in the fact vocabularies.
WORDS = """
bread chair table stone cloud light water sugar lemon candle window garden pencil basket
button carpet castle dragon engine forest guitar hammer island jacket kettle ladder magnet
napkin orange pepper pocket rabbit saddle ticket tunnel velvet walnut yellow zipper anchor
bottle bridge camera cherry cookie dinner farmer finger flower ginger helmet hunter jungle
kitten letter marble meadow monkey needle parrot puzzle rocket shadow spider summer tomato
turtle wallet winter plant grape horse mouse sheep goat tiger zebra camel eagle shark whale
snake frog duck crab moth bee ant cup pen map hat box sun car bus key egg bell coin drum fork
kite lamp nest ring sock tent book boat cake desk door fish gate king leaf milk moon nose road
rope salt ship shoe star tree wind brick chalk clock crown dress flame glove knife mango night
paint queen river scarf spoon storm sword train truck voice
""".split()

_STRING_QUESTIONS = {
    "reverse": [
        "Reverse the word '{w}'.",
        "What is '{w}' spelled backwards?",
        "Write '{w}' backwards.",
        "What do you get when you reverse '{w}'?",
    ],
    "upper": [
        "Write the word '{w}' in capital letters.",
        "What is '{w}' in uppercase?",
        "Convert '{w}' to uppercase.",
        "Spell '{w}' in capital letters.",
    ],
    "first": [
        "What is the first letter of the word '{w}'?",
        "Which letter does '{w}' start with?",
        "Give the first letter of '{w}'.",
        "What letter begins the word '{w}'?",
    ],
}
STRING_STATEMENTS = {
    "reverse": ["The word '{w}' reversed is '{a}'.", "'{w}' spelled backwards is '{a}'."],
    "upper": ["The word '{w}' in capital letters is '{a}'.", "'{w}' in uppercase is '{a}'."],
    "first": [
        "The first letter of the word '{w}' is '{a}'.",
        "'{w}' starts with the letter '{a}'.",
    ],
}
_ARITHMETIC_QUESTIONS = {
    "plus": [
        "What is {a} plus {b}?",
        "What is {a} + {b}?",
        "Add {a} and {b}.",
        "What is the sum of {a} and {b}?",
    ],
    "minus": [
        "What is {a} minus {b}?",
        "What is {a} - {b}?",
        "Subtract {b} from {a}.",
        "What is the difference between {a} and {b}?",
    ],
}
ARITHMETIC_STATEMENTS = {
    "plus": [
        "{a} plus {b} is {c}.",
        "The sum of {a} and {b} is {c}.",
        "Adding {a} and {b} gives {c}.",
    ],
    "minus": [
        "{a} minus {b} is {c}.",
        "Taking {b} from {a} leaves {c}.",
        "The difference between {a} and {b} is {c}.",
    ],
}


@dataclass(frozen=True)
class Question:
    prompt: str
    task: str
    answer: str
    # The item asked, whatever the phrasing, so that in_sft can ignore phrasing:
    # ("plus", 37, 15), ("reverse", "plant"), ("flag", "Brimwick").
    key: tuple


class Exhausted(Exception):
    """No question of the task is left in the pools that the draw accepts."""


def build_world(seed: int, n_towns: int) -> dict[str, dict[str, str]]:
    """Town name -> attribute -> value. Depends on the seed and n_towns only, so changing a
    split size leaves the world unchanged."""
    rng = random.Random(f"{seed}:world")
    names = [h + t for h in NAME_HEADS.split() for t in NAME_TAILS.split()]
    towns = rng.sample(names, n_towns)
    return {
        town: {attr: rng.choice(values) for attr, values in ATTRIBUTES.items()} for town in towns
    }


def fact_questions(town: str, attr: str) -> list[str]:
    """Every phrasing of the question asking `attr` of `town`."""
    generic = [frame.format(np=_FACT_NOUNS[attr].format(t=town)) for frame in _FACT_FRAMES]
    return generic + [q.format(t=town) for q in _FACT_QUESTIONS[attr]]


def fact_statements(town: str, attr: str, value: str) -> list[str]:
    """Every phrasing of the corpus sentence stating `attr` of `town`."""
    return [s.format(t=town, v=value) for s in _FACT_STATEMENTS[attr]]


def string_answer(op: str, word: str) -> str:
    return {"reverse": word[::-1], "upper": word.upper(), "first": word[0]}[op]


def question_pools(world: dict, rng: random.Random) -> dict[str, dict[str, list[Question]]]:
    """task -> subtask -> every distinct question, shuffled; splits pop from the end."""
    pools: dict[str, dict[str, list[Question]]] = {t: {} for t in tasks.TASKS}
    for op, phrasings in _ARITHMETIC_QUESTIONS.items():
        pools["arithmetic"][op] = [
            Question(
                p.format(a=a, b=b), "arithmetic", str(a + b if op == "plus" else a - b), (op, a, b)
            )
            for a in range(100)
            for b in range(100 if op == "plus" else a + 1)
            for p in phrasings
        ]
    for op, phrasings in _STRING_QUESTIONS.items():
        pools["string"][op] = [
            Question(p.format(w=w), "string", string_answer(op, w), (op, w))
            for w in WORDS
            for p in phrasings
        ]
    for attr in ATTRIBUTES:
        pools["fact"][attr] = [
            Question(q, "fact", values[attr], (attr, town))
            for town, values in world.items()
            for q in fact_questions(town, attr)
        ]
    for subpools in pools.values():
        for items in subpools.values():
            rng.shuffle(items)
    return pools


def draw(pools: dict, task: str, rng: random.Random, accept=None) -> Question:
    """A question of `task` not drawn before: a random subtask, then a random question."""
    subtasks = list(pools[task])
    while subtasks:
        sub = rng.choice(subtasks)
        items = pools[task][sub]
        for i in range(len(items) - 1, -1, -1):
            if accept is None or accept(items[i]):
                items[i], items[-1] = items[-1], items[i]
                return items.pop()
        subtasks.remove(sub)
    raise Exhausted(task)
