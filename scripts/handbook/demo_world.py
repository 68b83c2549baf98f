"""The demo world: a seeded fictional world and tasks with checkable answers.

`generate(spec, outdir)` writes, in the column formats of the hub datasets the recipes
expect (ultrachat_200k for SFT, ultrafeedback_binarized for preferences):

    corpus.jsonl              {"text"}: documents for continued pretraining
    sft/{train,test}.jsonl    {"prompt_id", "prompt", "messages", "task", "answer", "style"}
    preference/{train,test}.jsonl
                              {"prompt_id", "prompt", "chosen", "rejected", "score_chosen",
                               "score_rejected", "task", "answer", "kind"}
    prompts/generation.jsonl  {"prompt_id", "prompt", "messages", "task", "answer"}
    eval/test.jsonl           {"prompt_id", "prompt", "task", "answer", "in_sft"}
    manifest.json             spec, row counts and sha256 of every file (written last)

No prompt string appears in two files, nor as a question in the corpus. A fifth of the
town facts are never asked in any training split ("corpus-only"): they are learnt from
the corpus alone, and half the fact questions of eval/test ask about them. `in_sft` says
whether the same item (fact, sum, word and operation) was asked in sft/train.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import string
from dataclasses import dataclass
from pathlib import Path

from handbook.provenance import write_text_atomic

from . import tasks

log = logging.getLogger(__name__)

DEFAULTS: dict = {
    "seed": 0,
    "n_towns": 40,
    "corpus_chars": 290000,
    "n_sft": 1500,
    "n_sft_test": 100,
    "n_pref": 1000,
    "n_pref_test": 200,
    "n_generation": 200,
    "n_eval": 230,
    "sft_preferred_fraction": 0.5,
    "task_mix": {"arithmetic": 0.4, "string": 0.3, "fact": 0.3},
}

CORPUS_ONLY_FACT_FRACTION = 0.2
EVAL_IN_SFT_FACT_FRACTION = 0.5

_NAME_HEADS = "Brim Tol Ash Mar Fen Kel Dun Wyn Hal Cor Bel Gar Lor Pell Thorn Quen Ros Sel Var Yar"
_NAME_TAILS = "wick var ford mere holt by ton dale moor stead well crest haven mouth bury"

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
_STRING_STATEMENTS = {
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
_ARITHMETIC_STATEMENTS = {
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

# Scores on the 1-10 scale of ultrafeedback: a right answer matters more than manners.
_SCORES = {("right", "preferred"): 9.0, ("right", "dispreferred"): 7.0, ("wrong", "preferred"): 4.0}


@dataclass(frozen=True)
class Question:
    prompt: str
    task: str
    answer: str
    # The item asked, whatever the phrasing, so that in_sft can ignore phrasing:
    # ("plus", 37, 15), ("reverse", "plant"), ("flag", "Brimwick").
    key: tuple


class _Exhausted(Exception):
    pass


# --------------------------------------------------------------------------- spec


def resolve_spec(spec: dict | None) -> dict:
    """`spec` over DEFAULTS, checked; a given task_mix replaces the default one whole."""
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown demo_world spec key(s) {unknown}; known keys: {sorted(DEFAULTS)}"
        )
    resolved = {**DEFAULTS, **spec}
    for key, value in resolved.items():
        if key in ("task_mix", "sft_preferred_fraction"):
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"demo_world spec key {key!r} must be an integer, got {value!r}")
        if key != "seed" and value < (1 if key == "n_towns" else 0):
            raise ValueError(f"demo_world spec key {key!r} is out of range: {value!r}")
    fraction = resolved["sft_preferred_fraction"]
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 <= fraction <= 1
    ):
        raise ValueError(
            f"demo_world spec key 'sft_preferred_fraction' must be in [0, 1], got {fraction!r}"
        )
    resolved["sft_preferred_fraction"] = float(fraction)
    resolved["task_mix"] = _resolve_task_mix(resolved["task_mix"])
    max_towns = len(_NAME_HEADS.split()) * len(_NAME_TAILS.split())
    if resolved["n_towns"] > max_towns:
        raise ValueError(
            f"demo_world spec key 'n_towns' is {resolved['n_towns']}; at most {max_towns} names exist"
        )
    return resolved


def _resolve_task_mix(mix) -> dict[str, float]:
    if not isinstance(mix, dict):
        raise ValueError(f"demo_world spec key 'task_mix' must be a mapping, got {mix!r}")
    unknown = sorted(set(mix) - set(tasks.TASKS))
    if unknown:
        raise ValueError(
            f"unknown task(s) {unknown} in demo_world spec key 'task_mix'; known: {list(tasks.TASKS)}"
        )
    for task, weight in mix.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(
                f"demo_world task_mix weight for {task!r} must be a number >= 0, got {weight!r}"
            )
    if sum(mix.values()) <= 0:
        raise ValueError("demo_world task_mix weights sum to 0")
    return {task: float(mix.get(task, 0.0)) for task in tasks.TASKS}


def allocate(n: int, weights: dict[str, float]) -> dict[str, int]:
    """`n` split by `weights` exactly (largest remainder; ties go to the earlier key)."""
    total = sum(weights.values())
    quotas = {k: n * w / total for k, w in weights.items()}
    counts = {k: int(q) for k, q in quotas.items()}
    order = sorted(quotas, key=lambda k: (-(quotas[k] - counts[k]), list(weights).index(k)))
    for k in order[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


# --------------------------------------------------------------------------- world


def build_world(seed: int, n_towns: int) -> dict[str, dict[str, str]]:
    """Town name -> attribute -> value. Depends on the seed and n_towns only, so changing a
    split size leaves the world unchanged."""
    rng = random.Random(f"{seed}:world")
    names = [h + t for h in _NAME_HEADS.split() for t in _NAME_TAILS.split()]
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


def _question_pools(world: dict, rng: random.Random) -> dict[str, dict[str, list[Question]]]:
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


def _draw(pools: dict, task: str, rng: random.Random, accept=None) -> Question:
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
    raise _Exhausted(task)


# --------------------------------------------------------------------------- splits


def _draw_split(
    name: str, n: int, spec: dict, pools: dict, rng: random.Random, fact_rules: list
) -> list[Question]:
    """`n` questions in the spec's task mix. `fact_rules` is a list of (share, accept) for
    fact questions; when a rule runs dry, the other rules are tried in order."""
    counts = allocate(n, spec["task_mix"])
    order = [task for task in tasks.TASKS for _ in range(counts[task])]
    rng.shuffle(order)
    shares = allocate(counts["fact"], {i: share for i, (share, _) in enumerate(fact_rules)})
    fact_plan = [accept for (_, accept), k in zip(fact_rules, shares.values()) for _ in range(k)]
    rng.shuffle(fact_plan)
    questions = []
    try:
        for task in order:
            if task != "fact":
                questions.append(_draw(pools, task, rng))
                continue
            rules = [fact_plan.pop()] + [a for _, a in fact_rules]
            for accept in rules:
                try:
                    questions.append(_draw(pools, "fact", rng, accept))
                    break
                except _Exhausted:
                    continue
            else:
                raise _Exhausted("fact")
    except _Exhausted as exc:
        raise ValueError(
            f"not enough distinct {exc.args[0]} prompts for {name} ({n} rows): "
            "raise n_towns or lower the split sizes"
        ) from None
    return questions


def _prompt_id(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def _sft_rows(questions: list[Question], fraction: float, rng: random.Random) -> list[dict]:
    n = len(questions)
    n_preferred = int(n * fraction + 0.5)
    styles = [("preferred", 0)] * ((n_preferred + 1) // 2) + [("preferred", 1)] * (n_preferred // 2)
    styles += [("dispreferred", 0)] * (n - n_preferred)
    rng.shuffle(styles)
    return [
        {
            "prompt_id": _prompt_id(q.prompt),
            "prompt": q.prompt,
            "messages": [
                _message("user", q.prompt),
                _message("assistant", tasks.render_reply(q.answer, style, variant)),
            ],
            "task": q.task,
            "answer": q.answer,
            "style": style,
        }
        for q, (style, variant) in zip(questions, styles)
    ]


def wrong_answer(q: Question, rng: random.Random) -> str:
    """A plausible mistake: off by a little, a half-done transform, another town's value."""
    op = q.key[0]
    if q.task == "arithmetic":
        right = int(q.answer)
        candidates = [str(right + d) for d in (-10, -2, -1, 1, 2, 10) if right + d >= 0]
    elif q.task == "string":
        word = q.key[1]
        swapped = [
            q.answer[:i] + q.answer[i + 1] + q.answer[i] + q.answer[i + 2 :]
            for i in range(len(q.answer) - 1)
        ]
        if op == "reverse":
            candidates = [word] + swapped
        elif op == "upper":
            candidates = [word, word.capitalize()] + swapped
        else:
            candidates = list(word[1:])
    else:
        candidates = ATTRIBUTES[op]
    candidates = sorted(set(candidates) - {q.answer})
    if not candidates:  # a word of one repeated letter offers no other letter to mistake
        candidates = sorted(set(string.ascii_lowercase) - {q.answer})
    return rng.choice(candidates)


def _preference_rows(questions: list[Question], rng: random.Random) -> list[dict]:
    kinds = ["correctness"] * (len(questions) // 2) + ["style"] * (
        len(questions) - len(questions) // 2
    )
    rng.shuffle(kinds)
    rows = []
    for q, kind in zip(questions, kinds):
        variant = rng.randrange(len(tasks.PREFERRED_TEMPLATES))
        chosen = tasks.render_reply(q.answer, "preferred", variant)
        if kind == "correctness":
            rejected = tasks.render_reply(wrong_answer(q, rng), "preferred", variant)
            score_rejected = _SCORES["wrong", "preferred"]
        else:
            rejected = tasks.render_reply(q.answer, "dispreferred")
            score_rejected = _SCORES["right", "dispreferred"]
        user = _message("user", q.prompt)
        rows.append(
            {
                "prompt_id": _prompt_id(q.prompt),
                "prompt": q.prompt,
                "chosen": [user, _message("assistant", chosen)],
                "rejected": [user, _message("assistant", rejected)],
                "score_chosen": _SCORES["right", "preferred"],
                "score_rejected": score_rejected,
                "task": q.task,
                "answer": q.answer,
                "kind": kind,
            }
        )
    return rows


def _generation_rows(questions: list[Question]) -> list[dict]:
    return [
        {
            "prompt_id": _prompt_id(q.prompt),
            "prompt": q.prompt,
            "messages": [_message("user", q.prompt)],
            "task": q.task,
            "answer": q.answer,
        }
        for q in questions
    ]


def _eval_rows(questions: list[Question], sft_keys: set) -> list[dict]:
    return [
        {
            "prompt_id": _prompt_id(q.prompt),
            "prompt": q.prompt,
            "task": q.task,
            "answer": q.answer,
            "in_sft": q.key in sft_keys,
        }
        for q in questions
    ]


# --------------------------------------------------------------------------- corpus


def _fact_doc(world: dict, rng: random.Random, town: str | None = None) -> str:
    if town is not None:
        attrs = list(ATTRIBUTES)
        rng.shuffle(attrs)
        return " ".join(
            [f"{town} is a town."]
            + [rng.choice(fact_statements(town, a, world[town][a])) for a in attrs]
        )
    towns = sorted(world)
    sentences = []
    for _ in range(rng.randint(4, 6)):
        t, a = rng.choice(towns), rng.choice(list(ATTRIBUTES))
        sentences.append(rng.choice(fact_statements(t, a, world[t][a])))
    return " ".join(sentences)


def _arithmetic_doc(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(4, 6)):
        a, b = rng.randrange(100), rng.randrange(100)
        if rng.random() < 0.5:
            sentences.append(rng.choice(_ARITHMETIC_STATEMENTS["plus"]).format(a=a, b=b, c=a + b))
        else:
            a, b = max(a, b), min(a, b)
            sentences.append(rng.choice(_ARITHMETIC_STATEMENTS["minus"]).format(a=a, b=b, c=a - b))
    return " ".join(sentences)


def _string_doc(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(4, 6)):
        op, w = rng.choice(sorted(_STRING_STATEMENTS)), rng.choice(WORDS)
        sentences.append(rng.choice(_STRING_STATEMENTS[op]).format(w=w, a=string_answer(op, w)))
    return " ".join(sentences)


def _qa_doc(
    leftovers: dict[str, list[Question]], weights: dict[str, float], rng: random.Random
) -> str:
    available = [t for t in tasks.TASKS if leftovers[t] and weights[t] > 0]
    lines = []
    for _ in range(rng.randint(3, 6)):
        task = rng.choices(available, [weights[t] for t in available])[0]
        q = rng.choice(leftovers[task])
        lines.append(tasks.plain_prompt(q.prompt) + f" {q.answer}\n")
    return "".join(lines)


def _corpus(world: dict, leftovers: dict, spec: dict, rng: random.Random) -> list[dict]:
    """Every town's facts once, then random documents up to `corpus_chars`: facts in
    several phrasings (each fact recurs many times), sums, word transforms, and plain-format
    Q/A on questions that no split asks, so a base model learns the plain format."""
    docs = [_fact_doc(world, rng, town) for town in sorted(world)]
    makers = {
        "fact": lambda: _fact_doc(
            world, rng, rng.choice(sorted(world)) if rng.random() < 0.5 else None
        ),
        "arithmetic": lambda: _arithmetic_doc(rng),
        "string": lambda: _string_doc(rng),
        "qa": lambda: _qa_doc(leftovers, spec["task_mix"], rng),
    }
    kinds, weights = zip(*{"fact": 0.35, "arithmetic": 0.15, "string": 0.15, "qa": 0.35}.items())
    if not any(leftovers[t] and spec["task_mix"][t] > 0 for t in tasks.TASKS):
        kinds, weights = kinds[:3], weights[:3]
    total = sum(len(d) for d in docs)
    while total < spec["corpus_chars"]:
        doc = makers[rng.choices(kinds, weights)[0]]()
        docs.append(doc)
        total += len(doc)
    rng.shuffle(docs)
    return [{"text": d} for d in docs]


# --------------------------------------------------------------------------- writing


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in rows)


def build(spec: dict) -> dict[str, list[dict]]:
    """Every file's rows, in memory: relative path -> rows. `spec` must be resolved."""
    world = build_world(spec["seed"], spec["n_towns"])
    rng = random.Random(f"{spec['seed']}:splits")
    pools = _question_pools(world, rng)
    facts = sorted((attr, town) for town in sorted(world) for attr in ATTRIBUTES)
    n_corpus_only = max(1, round(CORPUS_ONLY_FACT_FRACTION * len(facts)))
    corpus_only = set(rng.sample(facts, n_corpus_only))

    def trained(q):
        return q.key not in corpus_only

    sft_train = _draw_split("sft/train", spec["n_sft"], spec, pools, rng, [(1.0, trained)])
    sft_keys = {q.key for q in sft_train}
    eval_rules = [
        (EVAL_IN_SFT_FACT_FRACTION, lambda q: q.key in sft_keys),
        (1 - EVAL_IN_SFT_FACT_FRACTION, lambda q: q.key in corpus_only),
    ]
    eval_test = _draw_split("eval/test", spec["n_eval"], spec, pools, rng, eval_rules)
    held = {
        name: _draw_split(name, spec[key], spec, pools, rng, [(1.0, trained)])
        for name, key in [
            ("sft/test", "n_sft_test"),
            ("preference/train", "n_pref"),
            ("preference/test", "n_pref_test"),
            ("prompts/generation", "n_generation"),
        ]
    }
    leftovers = {
        task: [q for sub in sorted(pools[task]) for q in pools[task][sub]] for task in tasks.TASKS
    }
    fraction = spec["sft_preferred_fraction"]
    return {
        "corpus.jsonl": _corpus(world, leftovers, spec, random.Random(f"{spec['seed']}:corpus")),
        "sft/train.jsonl": _sft_rows(sft_train, fraction, rng),
        "sft/test.jsonl": _sft_rows(held["sft/test"], fraction, rng),
        "preference/train.jsonl": _preference_rows(held["preference/train"], rng),
        "preference/test.jsonl": _preference_rows(held["preference/test"], rng),
        "prompts/generation.jsonl": _generation_rows(held["prompts/generation"]),
        "eval/test.jsonl": _eval_rows(eval_test, sft_keys),
    }


def generate(spec: dict, outdir: Path) -> dict[str, int]:
    """Write the demo world under `outdir`; returns rows per file. manifest.json is written
    last and removed first, so a directory without it is incomplete."""
    spec = resolve_spec(spec)
    outdir = Path(outdir)
    (outdir / "manifest.json").unlink(missing_ok=True)
    files = build(spec)
    counts, digests = {}, {}
    for name, rows in files.items():
        text = _jsonl(rows)
        write_text_atomic(outdir / name, text)
        counts[name] = len(rows)
        digests[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        log.info("wrote %s (%d rows)", outdir / name, len(rows))
    manifest = {"spec": spec, "counts": counts, "sha256": digests}
    write_text_atomic(
        outdir / "manifest.json",
        json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n",
    )
    log.info("wrote %s", outdir / "manifest.json")
    return counts
