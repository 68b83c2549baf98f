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
    eval/same_knowledge.jsonl the same columns: the generation prompts' items asked anew
    manifest.json             spec, row counts and sha256 of every file (written last)

No prompt string appears in two files, nor as a question in the corpus. A fifth of the
town facts are never asked in any training split ("corpus-only"): they are learnt from
the corpus alone, and half the fact questions of eval/test ask about them. `in_sft` says
whether the same item (fact, sum, word and operation) was asked in sft/train.

eval/test.jsonl asks for new knowledge as much as old (corpus-only facts, unseen sums and words);
eval/same_knowledge.jsonl asks only what the online methods train on: each row is the item of one
prompts/generation.jsonl prompt (the same fact, sum, or word and operation) in a phrasing no other
file uses, so a method that sharpens what it was rewarded for can show it there.

The towns and questions come from handbook.demo_questions, the files' rows and the corpus
documents from handbook.demo_documents; this module resolves the spec, draws the splits and
writes the files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from pathlib import Path

from handbook.demo_documents import corpus, eval_rows, generation_rows, preference_rows, sft_rows
from handbook.demo_questions import (
    ATTRIBUTES,
    NAME_HEADS,
    NAME_TAILS,
    Exhausted,
    Question,
    build_world,
    draw,
    question_pools,
)
from handbook.jsonl import jsonl_text
from handbook.provenance import write_text_atomic
from handbook.tasks import plain_prompt

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
    # None: one row per generation prompt whose item has a phrasing left (nearly all).
    "n_same_knowledge": None,
    "sft_preferred_fraction": 0.5,
    "task_mix": {"arithmetic": 0.4, "string": 0.3, "fact": 0.3},
}

CORPUS_ONLY_FACT_FRACTION = 0.2
EVAL_IN_SFT_FACT_FRACTION = 0.5

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
        if key == "n_same_knowledge" and value is None:
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
    max_towns = len(NAME_HEADS.split()) * len(NAME_TAILS.split())
    if resolved["n_towns"] > max_towns:
        raise ValueError(
            f"demo_world spec key 'n_towns' is {resolved['n_towns']}; "
            f"at most {max_towns} names exist"
        )
    return resolved


def _resolve_task_mix(mix) -> dict[str, float]:
    if not isinstance(mix, dict):
        raise ValueError(f"demo_world spec key 'task_mix' must be a mapping, got {mix!r}")
    unknown = sorted(set(mix) - set(tasks.TASKS))
    if unknown:
        raise ValueError(
            f"unknown task(s) {unknown} in demo_world spec key 'task_mix'; "
            f"known: {list(tasks.TASKS)}"
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
                questions.append(draw(pools, task, rng))
                continue
            rules = [fact_plan.pop()] + [a for _, a in fact_rules]
            for accept in rules:
                try:
                    questions.append(draw(pools, "fact", rng, accept))
                    break
                except Exhausted:
                    continue
            else:
                raise Exhausted("fact")
    except Exhausted as exc:
        raise ValueError(
            f"not enough distinct {exc.args[0]} prompts for {name} ({n} rows): "
            "raise n_towns or lower the split sizes"
        ) from None
    return questions


def rephrased(
    name: str,
    asked: list[Question],
    n: int | None,
    pools: dict,
    rng: random.Random,
    accept=None,
) -> list[Question]:
    """`n` questions (None: as many as can be), each the item of one of `asked` in a phrasing
    still in the pools (so in no split) that `accept` takes: the same fact, sum, or word and
    operation, other words. Drawn with an rng of its own, so the other splits stay as they
    were."""
    order = list(asked)
    rng.shuffle(order)
    questions = []
    for q in order:
        if len(questions) == n:
            break
        items = pools[q.task][q.key[0]]
        same = [
            i
            for i, other in enumerate(items)
            if other.key == q.key and (accept is None or accept(other))
        ]
        if same:
            questions.append(items.pop(rng.choice(same)))
    if n is not None and len(questions) < n:
        raise ValueError(
            f"only {len(questions)} items of the {len(asked)} generation prompts have a phrasing "
            f"left for {name} ({n} rows): lower n_same_knowledge or raise n_generation"
        )
    return questions


# --------------------------------------------------------------------------- writing


def build(spec: dict) -> dict[str, list[dict]]:
    """Every file's rows, in memory: relative path -> rows. `spec` must be resolved."""
    world = build_world(spec["seed"], spec["n_towns"])
    rng = random.Random(f"{spec['seed']}:splits")
    pools = question_pools(world, rng)
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
    documents = corpus(world, leftovers, spec, random.Random(f"{spec['seed']}:corpus"))
    # Drawn after the corpus, from phrasings it does not ask, so that adding this split left
    # every other file (and so the tokenizer and every model) as it was.
    corpus_text = "\n".join(d["text"] for d in documents)
    same_knowledge = rephrased(
        "eval/same_knowledge",
        held["prompts/generation"],
        spec["n_same_knowledge"],
        pools,
        random.Random(f"{spec['seed']}:same_knowledge"),
        accept=lambda q: plain_prompt(q.prompt) not in corpus_text,
    )
    fraction = spec["sft_preferred_fraction"]
    return {
        "corpus.jsonl": documents,
        "sft/train.jsonl": sft_rows(sft_train, fraction, rng),
        "sft/test.jsonl": sft_rows(held["sft/test"], fraction, rng),
        "preference/train.jsonl": preference_rows(held["preference/train"], rng),
        "preference/test.jsonl": preference_rows(held["preference/test"], rng),
        "prompts/generation.jsonl": generation_rows(held["prompts/generation"]),
        "eval/test.jsonl": eval_rows(eval_test, sft_keys),
        "eval/same_knowledge.jsonl": eval_rows(same_knowledge, sft_keys),
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
        text = jsonl_text(rows, sort_keys=True)
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
