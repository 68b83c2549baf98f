# Evaluation on the demo world's held-out prompts: accuracy (chat and plain formats), style, loss;
# the same job runs the local lm-eval suites (tasks generated from the demo world) on the model it
# has loaded, so each of their files is its output; lm_eval runs the other suites.


rule eval_demo:
    input:
        unpack(get_eval_inputs),
    output:
        *expand(
            artifacts.SUITE_RESULT,
            suite=eval_jobs.local_suites(PLAN),
            allow_missing=True,
        ),
        scores=artifacts.DEMO_EVAL,
        samples=artifacts.DEMO_SAMPLES,
    log:
        "results/logs/eval/{stage}/{run}.log",
    benchmark:
        "results/benchmarks/eval/{stage}/{run}.tsv"
    priority: schedule.EVALUATION
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        model=get_eval_model,
        args=get_eval_args,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/eval_demo.py --model {params.model} --prompts {input.prompts} "
        "{params.args} --output {output.scores} >> {log} 2>&1"


rule judge_winrate:
    input:
        unpack(get_winrate_inputs),
    output:
        artifacts.WINRATE,
    log:
        "results/logs/eval/{stage}/{run}_winrate.log",
    benchmark:
        "results/benchmarks/eval/{stage}/{run}_winrate.tsv"
    priority: schedule.JUDGING
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        model=get_winrate_model,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/judge_winrate.py --reward_model {params.model} "
        "--samples {input.samples} --baseline {input.baseline} --output {output} >> {log} 2>&1"


rule eval_reward:
    input:
        unpack(get_reward_eval_inputs),
    output:
        artifacts.REWARD_EVAL,
    log:
        "results/logs/eval/rm/{run}.log",
    benchmark:
        "results/benchmarks/eval/rm/{run}.tsv"
    priority: schedule.EVALUATION
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/eval_reward.py --model {input.model} "
        "--pairs {input.pairs} --output {output} >> {log} 2>&1"


rule lm_eval_tasks:
    input:
        "results/demo_world/eval/test.jsonl",
    output:
        directory(artifacts.LM_EVAL_TASKS),
    log:
        "results/logs/lm_eval_tasks/{format}.log",
    benchmark:
        "results/benchmarks/lm_eval_tasks/{format}.tsv"
    wildcard_constraints:
        format="chat|plain",
    priority: schedule.EVALUATION
    conda:
        "../../envs/eval.yaml"
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/make_lm_eval_tasks.py --eval_prompts {input} --output_dir {output} "
        "--format {wildcards.format} >> {log} 2>&1"


# lm-eval's index of all its tasks takes tens of seconds; each hub suite's evaluations index only
# the task folders this job finds once (handbook.lm_harness).
rule lm_eval_task_folders:
    output:
        artifacts.TASK_FOLDERS,
    log:
        "results/logs/eval/lm_eval_task_folders/{suite}.log",
    benchmark:
        "results/benchmarks/eval/lm_eval_task_folders/{suite}.tsv"
    wildcard_constraints:
        suite=eval_jobs.lm_eval_suite_pattern(PLAN),
    priority: schedule.EVALUATION
    conda:
        "../../envs/eval.yaml"
    params:
        args=get_suites_json_arg,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/lm_eval_task_folders.py --suite {wildcards.suite} {params.args} --output {output} >> {log} 2>&1"


rule lm_eval:
    input:
        unpack(get_lm_eval_inputs),
    output:
        artifacts.SUITE_RESULT,
    log:
        "results/logs/eval/{stage}/{run}_lm_eval_{suite}.log",
    benchmark:
        "results/benchmarks/eval/{stage}/{run}_lm_eval_{suite}.tsv"
    wildcard_constraints:
        suite=eval_jobs.lm_eval_suite_pattern(PLAN),
    priority: schedule.EVALUATION
    conda:
        "../../envs/eval.yaml"
    threads: get_lm_eval_threads
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=get_lm_eval_gpus,
    params:
        model=get_lm_eval_model,
        args=get_lm_eval_args,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/eval_lm_harness.py --model {params.model} "
        "--suite {wildcards.suite} {params.args} --output {output} >> {log} 2>&1"


rule judge_demo_prompts:
    input:
        "results/demo_world/eval/test.jsonl",
    output:
        artifacts.JUDGE_DEMO_PROMPTS["mt_bench"],
        artifacts.JUDGE_DEMO_PROMPTS["alpaca_eval"],
        artifacts.JUDGE_DEMO_JUDGE_PROMPTS,
    log:
        "results/logs/judges/demo_prompts.log",
    benchmark:
        "results/benchmarks/judges/demo_prompts.tsv"
    priority: schedule.JUDGING
    conda:
        "../../envs/eval.yaml"
    params:
        folder=Path(artifacts.JUDGE_DEMO_PROMPTS["mt_bench"]).parent,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/generate_for_judges.py --make_demo_prompts {params.folder} "
        "--eval_prompts {input} >> {log} 2>&1"


rule judge_answers_mt_bench:
    input:
        unpack(get_judge_answer_inputs),
    output:
        answers=artifacts.JUDGE_ANSWERS["mt_bench"],
        settings=artifacts.JUDGE_ANSWER_SETTINGS["mt_bench"],
    log:
        "results/logs/judges/{judge}/{model_id}.log",
    benchmark:
        "results/benchmarks/judges/{judge}/{model_id}.tsv"
    wildcard_constraints:
        judge=judge_jobs.judges_of_format(PLAN, "mt_bench"),
        model_id=r"[a-z]+-[^/]+",
    priority: schedule.JUDGING
    conda:
        "../../envs/eval.yaml"
    threads: get_judge_answer_threads
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=get_judge_answer_gpus,
    params:
        args=get_judge_answer_args,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/generate_for_judges.py {params.args} "
        "--output {output.answers} >> {log} 2>&1"


use rule judge_answers_mt_bench as judge_answers_alpaca_eval with:
    output:
        answers=artifacts.JUDGE_ANSWERS["alpaca_eval"],
        settings=artifacts.JUDGE_ANSWER_SETTINGS["alpaca_eval"],
    wildcard_constraints:
        judge=judge_jobs.judges_of_format(PLAN, "alpaca_eval"),
        model_id=r"[a-z]+-[^/]+",


rule demo_judge:
    input:
        unpack(get_demo_judge_inputs),
    output:
        artifacts.DEMO_JUDGMENT,
    log:
        "results/logs/judges/{judge}/demo_judgment_{table}_{ext}.log",
    benchmark:
        "results/benchmarks/judges/{judge}/demo_judgment_{table}_{ext}.tsv"
    wildcard_constraints:
        ext="jsonl|csv",
    priority: schedule.JUDGING
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        args=get_demo_judge_args,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/demo_judge.py {params.args} "
        "--answers {input.answers} --output {output} >> {log} 2>&1"


# A judge endpoint's verdicts on a table's answers: one job per judge and table, so a served judge
# starts once; each request goes through the verdict cache, so a rebuild after a new model asks
# only about that model's answers. The digest reruns it when the endpoint or the judge changes.
rule judge_verdicts:
    input:
        unpack(get_verdicts_inputs),
    output:
        verdicts=artifacts.VERDICTS,
        summary=artifacts.VERDICTS_SUMMARY,
    log:
        "results/logs/judges/{judge}/verdicts_{table}.log",
    benchmark:
        "results/benchmarks/judges/{judge}/verdicts_{table}.tsv"
    priority: schedule.JUDGING
    conda:
        get_verdicts_env
    threads: get_verdicts_threads
    resources:
        mem_mb=16000,
        runtime=480,
        gpu=get_verdicts_gpus,
    params:
        args=get_verdicts_args,
        digest=get_endpoint_digest,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/judge.py {params.args} "
        "--answers {input.answers} --output {output.verdicts} --summary {output.summary} "
        "--server_log {log}.server >> {log} 2>&1"


# The judges' own data files at a pinned commit, on the submitting machine (compute nodes may have
# no internet), checked against their sha256.
localrules:
    judge_download,


rule judge_download:
    output:
        artifacts.JUDGE_DOWNLOAD,
    log:
        "results/logs/judges/downloads/{name}.log",
    priority: schedule.JUDGING
    conda:
        "../../envs/eval.yaml"
    params:
        args=get_download_args,
    shell:
        "log_attempt {log}; exec python -m handbook.downloads {params.args} --output {output} >> {log} 2>&1"
