"""AlpacaEval 2 pairwise annotation with the alpaca_eval package's own prompt and metrics.

The annotator's prompt template and parser settings are read from the installed package at run
time (evaluators_configs/<annotator>/configs.yaml), so the wording is the published one and a
package upgrade shows in the recorded versions. alpaca_eval's conventions hold throughout:
output_1 is the reference (baseline) output, output_2 the model's, and a preference lies in
[1, 2], 2 meaning the model's output wins. The clf annotators ask for one token naming the better
output ("m" for output_1, "M" for output_2); with log-probabilities the preference is weighted by
them (as alpaca_eval's logprob_parser does), without (transformers serve sends none) it is read
from the text. Unlike alpaca_eval's own runs, the outputs are not shuffled between the two
positions: the order is fixed, reference first.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from handbook.judging.length_control import finite, length_controlled

DEFAULT_ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
PLACEHOLDERS = ("instruction", "output_1", "output_2")
REFERENCE_GENERATOR = "reference"


@dataclass(frozen=True)
class Request:
    model_id: str
    instruction: str
    dataset: str
    output_1: str
    output_2: str
    messages: list[dict[str, str]]


def package():
    """alpaca_eval, imported without its pkg_resources deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pkg_resources.*")
        import alpaca_eval
        import alpaca_eval.metrics
        import alpaca_eval.utils
    return alpaca_eval


def configs_root() -> Path:
    return Path(package().__file__).parent / "evaluators_configs"


def load_annotator(name: str = DEFAULT_ANNOTATOR) -> tuple[str, dict[str, Any]]:
    """The annotator's prompt template and config, checked to be one this module can parse."""
    root = configs_root()
    path = root / name / "configs.yaml"
    if not path.exists():
        known = sorted(p.parent.name for p in root.glob("*/configs.yaml"))
        clf = [k for k in known if "clf" in k or k.startswith("weighted")][:6]
        raise ValueError(f"unknown AlpacaEval annotator {name!r}; some there are: {', '.join(clf)}")
    config = yaml.safe_load(path.read_text())[name]
    if config.get("fn_completion_parser") != "logprob_parser":
        raise ValueError(
            f"AlpacaEval annotator {name!r} uses {config.get('fn_completion_parser')!r}; "
            "this judge reads the one-token (logprob_parser) annotators"
        )
    template = (root / config["prompt_template"]).read_text()
    missing = [p for p in PLACEHOLDERS if "{" + p + "}" not in template]
    if missing:
        raise ValueError(f"AlpacaEval annotator {name!r}: template has no {{{missing[0]}}}")
    return template, config


def answer_tokens(config: dict[str, Any]) -> tuple[str, str]:
    """(token naming output_1, token naming output_2), from the parser's settings."""
    kwargs = config.get("completion_parser_kwargs") or {}
    first = kwargs.get("numerator_token", "m")
    others = [t for t in kwargs.get("denominator_tokens", ["m", "M"]) if t != first]
    return first, others[0] if others else "M"


def wants_logprobs(config: dict[str, Any]) -> bool:
    return bool((config.get("completions_kwargs") or {}).get("logprobs", True))


def fill_template(template: str, values: dict[str, str]) -> str:
    """One pass over the placeholders (the template's JSON braces are left alone, and an output
    that happens to contain `{output_2}` is not filled in its turn)."""
    pattern = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
    return pattern.sub(lambda m: values[m.group(1)], template)


def pairwise_requests(
    references: dict[str, str],
    outputs_by_model: dict[str, list[dict[str, Any]]],
    template: str,
) -> list[Request]:
    """One request per model output, the reference output in position 1."""
    to_chatml = package().utils.prompt_to_chatml
    requests = []
    for model_id, rows in outputs_by_model.items():
        for row in rows:
            instruction = row["instruction"]
            if instruction not in references:
                raise ValueError(
                    f"model {model_id!r}: instruction {instruction[:60]!r} is not among the "
                    "references"
                )
            values = {
                "instruction": instruction,
                "output_1": references[instruction],
                "output_2": row["output"],
            }
            messages = to_chatml(fill_template(template, values))
            requests.append(
                Request(
                    model_id,
                    instruction,
                    row.get("dataset") or "",
                    values["output_1"],
                    values["output_2"],
                    messages,
                )
            )
    return requests


def preference_from_logprobs(top: list[dict[str, Any]], tokens: tuple[str, str]) -> float | None:
    probs = {t: sum(math.exp(x["logprob"]) for x in top if x["token"] == t) for t in tokens}
    total = probs[tokens[0]] + probs[tokens[1]]
    return 1.0 + probs[tokens[1]] / total if total > 0 else None


def preference_from_text(text: str, tokens: tuple[str, str]) -> float | None:
    # The whole first word must be the token: "Many ..." does not name output_2.
    match = re.match(r"\s*(\S+?)(?:[\s.,:;!\"']|$)", text)
    word = match.group(1) if match else ""
    return {tokens[0]: 1.0, tokens[1]: 2.0}.get(word)


def parse_preference(completion: Any, tokens: tuple[str, str] = ("m", "M")) -> float | None:
    """The preference in [1, 2], or None when the judge named neither output."""
    if completion.top_logprobs:
        weighted = preference_from_logprobs(completion.top_logprobs, tokens)
        if weighted is not None:
            return weighted
    return preference_from_text(completion.text, tokens)


def annotation_row(
    request: Request, completion: Any, preference: float | None, judge_model_id: str
) -> dict[str, Any]:
    """An annotation in alpaca_eval's fields, and whether it came from the cache."""
    return {
        "instruction": request.instruction,
        "output_1": request.output_1,
        "generator_1": REFERENCE_GENERATOR,
        "output_2": request.output_2,
        "generator_2": request.model_id,
        "dataset": request.dataset,
        "preference": preference,
        "annotator": judge_model_id,
        "raw_completion": completion.text,
        "cached": completion.cached,
    }


def raw_winrate(parsed: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    if not parsed:
        return None, None
    rates = package().metrics.get_winrate([{"preference": r["preference"]} for r in parsed])
    return finite(rates["win_rate"]), finite(rates["standard_error"])


def leaderboard(
    annotations: list[dict[str, Any]], glm_index: dict[str, int] | None = None
) -> dict[str, dict[str, Any]]:
    """Per model: alpaca_eval's win rate (failed parses left out and counted) and the
    length-controlled win rate (see length_control for which fit is used when)."""
    out = {}
    for model_id in dict.fromkeys(row["generator_2"] for row in annotations):
        mine = [row for row in annotations if row["generator_2"] == model_id]
        parsed = [row for row in mine if row["preference"] is not None]
        win_rate, standard_error = raw_winrate(parsed)
        out[model_id] = {
            "win_rate": win_rate,
            "standard_error": standard_error,
            **length_controlled(parsed, glm_index),
            "n_total": len(mine),
            "n_parse_failures": len(mine) - len(parsed),
            "avg_length": sum(len(r["output_2"]) for r in mine) / len(mine),
        }
    return out
