"""Jobs of workflow/rules/eval.smk for the judges: each model's answers to a judge's prompts
(judge_answers_<format>), a judge endpoint's verdicts on a table's answers (judge_verdicts), the
judge's own data files fetched at a pinned commit (judge_download), and the demo reward model's
verdicts when an endpoint is one (demo_judge)."""

from __future__ import annotations

import hashlib
import json
import shlex

from handbook import artifacts
from handbook.methods import BASE, METHODS
from handbook.plan.core import Plan, model_id, ref_of
from handbook.plan.eval import inference_gpus, multi_gpu_args
from handbook.plan.jobs import Job, threads_for

JUDGE_GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "batch_size")


def judges_of_format(plan: Plan, fmt: str) -> str:
    """Wildcard constraint: the judges of one format (a pattern matching nothing if none)."""
    names = [n for n, j in plan.config["judges"].items() if j["format"] == fmt]
    return "|".join(names) if names else "(?!)"


def judge_prompts(plan: Plan, name: str) -> str:
    """A judge's prompt set: the demo set at tiny scale and rehearsal when it comes from the hub
    (its answers are judged by the demo reward model there)."""
    spec = plan.config["judges"][name]
    if plan.scale in ("tiny", "rehearsal") and plan.is_hub(spec["prompts"]):
        return artifacts.JUDGE_DEMO_PROMPTS[spec["format"]]
    return spec["prompts"]


def answers_file(plan: Plan, judge: str, ref: str) -> str:
    fmt = plan.config["judges"][judge]["format"]
    return artifacts.JUDGE_ANSWERS[fmt].format(judge=judge, model_id=model_id(ref))


def answer_job(plan: Plan, judge: str, model: str) -> Job:
    """`model` is the judge's model id (<stage>-<run>)."""
    ref = ref_of(model)
    spec = plan.config["judges"][judge]
    prompts = judge_prompts(plan, judge)
    args = [
        f"--model {plan.model_location(ref)}",
        f"--format {spec['format']}",
        f"--prompts {shlex.quote(prompts)}",
        f"--model_id {model}",
        f"--device {plan.device(ref)}",
    ]
    if prompts == spec["prompts"]:
        args += [
            f"--{k} {shlex.quote(str(spec[k]))}"
            for k in ("prompts_config", "prompts_split")
            if spec.get(k)
        ]
    args += [f"--{k} {spec[k]}" for k in JUDGE_GENERATION_KEYS if k in spec]
    gpus = inference_gpus(plan, ref)
    args += multi_gpu_args(gpus)
    return Job(
        inputs={
            "model": plan.model_inputs(ref),
            "prompts": [] if plan.is_hub(prompts) else [prompts],
        },
        args=" ".join(args),
        gpus=gpus,
        threads=threads_for(gpus),
    )


# --- judging: endpoints, their verdicts, the judge's data files


def endpoint_name(plan: Plan, judge: str) -> str | None:
    """The endpoint judging `judge` at this scale (its 'tiny' at tiny scale and rehearsal), or
    None when verdicts come from a `judgments` file made elsewhere."""
    name = plan.config["judges"][judge].get("endpoint")
    endpoints = plan.config["judge_endpoints"]
    if name is None:
        return None
    if name not in endpoints:
        raise plan.error(
            f"judges.{judge}.endpoint",
            f"unknown judge endpoint '{name}' (known: {sorted(endpoints)})",
        )
    if plan.scale in ("tiny", "rehearsal") and endpoints[name].get("tiny"):
        tiny = endpoints[name]["tiny"]
        if tiny not in endpoints:
            raise plan.error(f"judge_endpoints.{name}.tiny", f"unknown judge endpoint '{tiny}'")
        name = tiny
    return name


def endpoint_of(plan: Plan, judge: str) -> dict | None:
    name = endpoint_name(plan, judge)
    return None if name is None else plan.config["judge_endpoints"][name]


def judged_by_reward_model(plan: Plan, judge: str) -> bool:
    endpoint = endpoint_of(plan, judge)
    return bool(endpoint and endpoint.get("reward_model"))


def judged_by_endpoint(plan: Plan, judge: str) -> bool:
    """A chat endpoint judges the answers here (judge_verdicts)."""
    endpoint = endpoint_of(plan, judge)
    return bool(endpoint and not endpoint.get("reward_model"))


def check_endpoint(plan: Plan, name: str) -> None:
    """An endpoint is a reward model, a served model, or an API with a base URL and model."""
    spec = plan.config["judge_endpoints"][name]
    where = f"judge_endpoints.{name}"
    if spec.get("reward_model"):
        plan.check_model(spec["reward_model"], f"{where}.reward_model")
    elif spec.get("serve"):
        if spec.get("base_url"):
            raise plan.error(f"{where}.base_url", "a served judge has no base_url (it is local)")
        if is_workflow_model(spec["serve"]["model"]):
            plan.check_model(spec["serve"]["model"], f"{where}.serve.model")
    else:
        for key in ("base_url", "model"):
            if not spec.get(key):
                raise plan.error(f"{where}.{key}", "an API judge needs base_url and model")


def is_workflow_model(model: str) -> bool:
    """<stage>/<run> or base/<name>, not a hub id (whose owner is no stage)."""
    return model.count("/") == 1 and model.split("/")[0] in (BASE, *METHODS)


def served_model(plan: Plan, spec: dict) -> tuple[str, list[str]]:
    """A served judge's model: a model of this workflow (its folder, an input of the job) or a
    hub id or folder."""
    model = spec["serve"]["model"]
    if is_workflow_model(model):
        return plan.model_location(model), plan.model_inputs(model)
    return model, plan.hub_inputs if plan.is_hub(model) else [model]


def endpoint_arg(plan: Plan, judge: str) -> tuple[dict, list[str]]:
    """The endpoint as scripts/judge.py reads it (--endpoint), and the files serving it needs."""
    name = endpoint_name(plan, judge)
    spec = {k: v for k, v in plan.config["judge_endpoints"][name].items() if k != "tiny"}
    inputs: list[str] = []
    if spec.get("serve"):
        model, inputs = served_model(plan, spec)
        gpus = spec["serve"].get("gpus", 0) if plan.scale == "full" else 0
        spec["serve"] = {**spec["serve"], "model": model, "gpus": gpus}
        spec.setdefault("model", model)
    return {"name": name, **spec}, inputs


def data_file(plan: Plan, value) -> str | None:
    """A judge's data file: a local path, or where a pinned download lands."""
    if value is None or isinstance(value, str):
        return value
    return artifacts.JUDGE_DOWNLOAD.format(name=download_name(value))


def download_name(value: dict) -> str:
    """The file name a pinned download is kept under: its own name and its hash's start."""
    return f"{value['sha256'][:12]}-{value['url'].rsplit('/', 1)[-1]}"


def downloads(plan: Plan) -> dict[str, dict]:
    """Every pinned download the judges name: file name -> {url, sha256}."""
    found = {}
    for spec in plan.config["judges"].values():
        for key in ("judge_prompts", "reference_answers"):
            if isinstance(spec.get(key), dict):
                found[download_name(spec[key])] = spec[key]
    return found


def download_job(plan: Plan, name: str) -> Job:
    entry = downloads(plan)[name]
    return Job(args=f"--url {shlex.quote(entry['url'])} --sha256 {entry['sha256']}")


def mt_bench_files(plan: Plan, judge: str) -> dict[str, str]:
    """The MT-Bench judge prompts and reference answers: FastChat's, or at tiny scale and
    rehearsal (where the hub's and GitHub's files are out of reach) the demo world's."""
    spec = plan.config["judges"][judge]
    if plan.scale in ("tiny", "rehearsal") and not isinstance(spec.get("judge_prompts"), str):
        return {"judge_prompts": artifacts.JUDGE_DEMO_JUDGE_PROMPTS}
    if not spec.get("judge_prompts"):
        raise plan.error(
            f"judges.{judge}.judge_prompts",
            "MT-Bench grading needs FastChat's judge_prompts.jsonl (a path or {url, sha256})",
        )
    files = {"judge_prompts": data_file(plan, spec["judge_prompts"])}
    demo_questions = judge_prompts(plan, judge) in artifacts.JUDGE_DEMO_PROMPTS.values()
    if spec.get("reference_answers") and not demo_questions:  # demo questions carry their own
        files["reference_answers"] = data_file(plan, spec["reference_answers"])
    return files


def alpaca_references(plan: Plan, judge: str) -> tuple[str, list[str]]:
    """Where AlpacaEval's reference outputs are read (their `output` column), with its config and
    split: the demo prompts at tiny scale and rehearsal when the references come from the hub."""
    spec = plan.config["judges"][judge]
    source = spec.get("references") or spec["prompts"]
    if plan.scale in ("tiny", "rehearsal") and plan.is_hub(source):
        return judge_prompts(plan, judge), []
    extra = [
        f"--{key} {shlex.quote(str(spec[key]))}"
        for key in ("references_config", "references_split")
        if spec.get(key) and plan.is_hub(source)  # a hub dataset's; a local file has none
    ]
    return source, extra


def verdicts_job(plan: Plan, judge: str, table: str, answers: list[str]) -> Job:
    """The endpoint judges every answer file of a table in one job (one server start), each
    request through the verdict cache."""
    spec = plan.config["judges"][judge]
    endpoint, serve_inputs = endpoint_arg(plan, judge)
    inputs = {"answers": answers, "serve": serve_inputs}
    if spec["format"] == "mt_bench":
        files = mt_bench_files(plan, judge)
        prompts = judge_prompts(plan, judge)
        inputs.update(files)
        inputs["questions"] = [] if plan.is_hub(prompts) else [prompts]
        args = ["--benchmark mt_bench", f"--questions {shlex.quote(prompts)}"]
        if prompts == spec["prompts"] and spec.get("prompts_split"):
            args.append(f"--questions_split {shlex.quote(spec['prompts_split'])}")
        args += [f"--{k} {v}" for k, v in files.items()]
    else:
        references, extra = alpaca_references(plan, judge)
        inputs["references"] = [] if plan.is_hub(references) else [references]
        args = ["--benchmark alpaca_eval", f"--references {shlex.quote(references)}", *extra]
        if spec.get("annotator"):
            args.append(f"--annotator {shlex.quote(spec['annotator'])}")
    args += [f"--endpoint {shlex.quote(json.dumps(endpoint, sort_keys=True))}"]
    args += [f"--cache {artifacts.VERDICT_CACHE}"]
    gpus = endpoint.get("serve", {}).get("gpus", 0)
    # vLLM is in the GPU env only; an API or transformers serve needs the eval env.
    env = "gpu" if endpoint.get("serve", {}).get("engine") == "vllm" else "eval"
    return Job(
        inputs=inputs,
        args=" ".join(args),
        env=f"../../envs/{env}.yaml",
        gpus=gpus,
        threads=threads_for(gpus) + 1,
    )


def endpoint_digest(plan: Plan, judge: str) -> str:
    """What decides the verdicts (endpoint and judge settings): a rerun trigger for the job."""
    endpoint, _ = endpoint_arg(plan, judge)
    payload = json.dumps([endpoint, plan.config["judges"][judge]], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def judge_models(plan: Plan, judge: str) -> list[str]:
    """Models of this workflow that judging needs: the reward model and its baseline, or the
    model a served judge serves."""
    endpoint = endpoint_of(plan, judge)
    if not endpoint:
        return []
    if endpoint.get("reward_model"):
        return [endpoint["reward_model"], plan.demo_eval["judge"]["baseline"]]
    model = (endpoint.get("serve") or {}).get("model", "")
    return [model] if is_workflow_model(model) else []


def judgment_file(plan: Plan, judge: str, table: str) -> str | None:
    """Where a table reads a judge's verdicts: built here by an endpoint or the demo reward
    model, or a `judgments` file made elsewhere (read if it exists)."""
    fmt = plan.config["judges"][judge]["format"]
    if judged_by_endpoint(plan, judge):
        return artifacts.VERDICTS_SUMMARY.format(judge=judge, table=table)
    if judged_by_reward_model(plan, judge):
        return artifacts.DEMO_JUDGMENTS[fmt].format(judge=judge, table=table)
    return plan.config["judges"][judge].get("judgments")


def judge_description(plan: Plan, judge: str) -> str:
    """Who judges, for the table's notes: the endpoint and its model (the verdicts name the id
    the server reported), the reward model, or 'external'."""
    name = endpoint_name(plan, judge)
    endpoint = endpoint_of(plan, judge)
    if endpoint is None:
        return "external"
    if endpoint.get("reward_model"):
        return f"reward-model:{endpoint['reward_model']}"
    model = endpoint.get("model") or endpoint["serve"]["model"]
    return f"{name} ({model})"
