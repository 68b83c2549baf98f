"""Where every artifact lives: the path templates of the rules' outputs, declared once.

The rules' `output:` (workflow/rules/*.smk) and the plan (handbook.plan) both format these; the
table builder gets each row's stage and prompt format from the plan, never out of a path. A model
is named by its ref, `<stage>/<run>` (`base/<name>` for a base model), so MODEL formats with the
ref's two parts.
"""

from __future__ import annotations

# --- models and data
MODEL = "results/models/{stage}/{run}"
CHECKPOINTS = "results/checkpoints/{stage}/{run}"
# Dashboards (handbook.dashboards): a run's TensorBoard folder, and the one Trackio store.
RUN_DIR = "results/runs/{stage}/{run}"
TRACKIO_STORE = "results/runs/trackio"
BASE_MODEL = "results/models/base/{base}"
TOKENIZER = "results/tokenizers/{base}"
PREPARED = "results/data/{dataset}/prepared"
TOKENIZED = "results/data/{dataset}/tokenized/{base}"
REF_LOGPS = "results/ref_logps/{dataset}/{stage}/{run}"
DEMO_WORLD = "results/demo_world"
# Training data against evaluation prompts (handbook.decontamination): per dataset, per table.
DECONTAMINATION = "results/decontamination/datasets/{dataset}.json"
DECONTAMINATION_REPORT = "results/decontamination/{table}.md"

# --- rejection sampling (iterative DPO's rounds are setups of their own)
SAMPLING = "results/rejection_sampling/{name}"
SAMPLES = SAMPLING + "/samples.jsonl"
SCORED = SAMPLING + "/scored.jsonl"

# --- evaluation
DEMO_EVAL = "results/eval/{stage}/{run}/demo.json"
DEMO_SAMPLES = "results/eval/{stage}/{run}/demo_samples.json"
WINRATE = "results/eval/{stage}/{run}/winrate.json"
REWARD_EVAL = "results/eval/rm/{run}/reward.json"
SUITE_RESULT = "results/eval/{stage}/{run}/lm_eval/{suite}.json"
LM_EVAL_TASKS = "results/lm_eval_tasks/{format}"
TASK_FOLDERS = "results/eval/lm_eval_task_folders/{suite}.json"

# --- judges: the prompt sets generated from the demo world, each model's answers, and at tiny
# scale and rehearsal the demo reward model's verdicts in the judge's own result format.
JUDGE_DEMO_PROMPTS = {
    "mt_bench": "results/judges/prompts/mt_bench_demo.jsonl",
    "alpaca_eval": "results/judges/prompts/alpaca_eval_demo.json",
}
JUDGE_ANSWERS = {
    "mt_bench": "results/judges/{judge}/model_answer/{model_id}.jsonl",
    "alpaca_eval": "results/judges/{judge}/model_outputs/{model_id}.json",
}
JUDGE_ANSWER_SETTINGS = {
    "mt_bench": "results/judges/{judge}/model_answer/{model_id}.settings.json",
    "alpaca_eval": "results/judges/{judge}/model_outputs/{model_id}.settings.json",
}
JUDGE_DEMO_JUDGE_PROMPTS = "results/judges/prompts/mt_bench_demo_judge_prompts.jsonl"
DEMO_JUDGMENT = "results/judges/{judge}/demo_judgment/{table}.{ext}"  # the rule's output
# A judge endpoint's verdicts on a table's answers (one row per request) and their summary: the
# score per model, the parse failures, the judge's model id as its server reported it.
VERDICTS = "results/judges/{judge}/verdicts/{table}.jsonl"
VERDICTS_SUMMARY = "results/judges/{judge}/verdicts/{table}.json"
VERDICT_CACHE = "results/judges/cache"
JUDGE_DOWNLOAD = "results/judges/downloads/{name}"
DEMO_JUDGMENTS = {
    "mt_bench": "results/judges/{judge}/demo_judgment/{table}.jsonl",
    "alpaca_eval": "results/judges/{judge}/demo_judgment/{table}.csv",
}

# --- tables and plots
TABLE = "results/tables/{table}.{ext}"
TABLE_EXTENSIONS = ("csv", "md", "png")
CURVES = "results/plots/{table}_curves.png"

# --- the cost plan (scripts/plan_costs.py): every job's tokens, FLOPs, hours and memory
PLAN_COSTS = "results/plan_costs.{ext}"


def model_dir(ref: str) -> str:
    """The folder the workflow builds a model in."""
    stage, run = ref.split("/", 1)
    return MODEL.format(stage=stage, run=run)


def model_dirs(refs, bases) -> list[str]:
    """The folders of the models a plan trains (`refs`) and of its base models, sorted."""
    return sorted({model_dir(ref) for ref in refs} | {BASE_MODEL.format(base=b) for b in bases})


def for_model(template: str, ref: str, **fields: str) -> str:
    """A per-model path (DEMO_EVAL, WINRATE, SUITE_RESULT, REF_LOGPS ...) of one model ref."""
    stage, run = ref.split("/", 1)
    return template.format(stage=stage, run=run, **fields)
