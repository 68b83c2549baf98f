# Rejection sampling (best-of-n): the policy samples k completions per prompt, the reward model
# (or verifiers that check the answer) scores them, and the best (and worst) become an SFT set and
# on-policy preference pairs. Iterative DPO's rounds are setups of their own (<name>-r<k>).


rule sample_completions:
    input:
        unpack(get_sampling_inputs),
    output:
        artifacts.SAMPLES,
    log:
        "results/logs/rejection_sampling/{name}/sample.log",
    benchmark:
        "results/benchmarks/rejection_sampling/{name}/sample.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/eval.yaml"
    threads: get_sampling_threads
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=get_sampling_gpus,
    params:
        model=get_sampling_policy,
        settings=get_sampling_args,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/sample_completions.py --model {params.model} "
        "--prompts {input.prompts} {params.settings} --output {output} >> {log} 2>&1"


rule score_samples:
    input:
        unpack(get_scoring_inputs),
    output:
        artifacts.SCORED,
    log:
        "results/logs/rejection_sampling/{name}/score.log",
    benchmark:
        "results/benchmarks/rejection_sampling/{name}/score.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/eval.yaml"
    threads: get_scoring_threads
    resources:
        mem_mb=16000,
        runtime=120,
        gpu=get_scoring_gpus,
    params:
        scorer=get_scoring_args,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/score_samples.py {params.scorer} "
        "--samples {input.samples} --output {output} >> {log} 2>&1"


rule make_bon_sets:
    input:
        artifacts.SCORED,
    output:
        best=multiext(
            "results/rejection_sampling/{name}/best_of_n/", "train.jsonl", "test.jsonl"
        ),
        pairs=multiext(
            "results/rejection_sampling/{name}/on_policy_pairs/",
            "train.jsonl",
            "test.jsonl",
        ),
        summary="results/rejection_sampling/{name}/summary.json",
    log:
        "results/logs/rejection_sampling/{name}/sets.log",
    benchmark:
        "results/benchmarks/rejection_sampling/{name}/sets.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/data.yaml"
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/make_bon_sets.py --scored {input} --output_dir results/rejection_sampling/{wildcards.name} "
        ">> {log} 2>&1"
