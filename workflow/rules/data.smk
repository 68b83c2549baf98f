# Data: the synthetic demo world, prepared datasets (mixtures, columns, splits), tokenized datasets.


rule make_demo_world:
    output:
        corpus="results/demo_world/corpus.jsonl",
        sft=multiext("results/demo_world/sft/", "train.jsonl", "test.jsonl"),
        preference=multiext(
            "results/demo_world/preference/", "train.jsonl", "test.jsonl"
        ),
        generation="results/demo_world/prompts/generation.jsonl",
        eval=multiext("results/demo_world/eval/", "test.jsonl", "same_knowledge.jsonl"),
        manifest="results/demo_world/manifest.json",
    log:
        "results/logs/demo_world.log",
    benchmark:
        "results/benchmarks/demo_world.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/data.yaml"
    params:
        spec=data_jobs.demo_world_spec(PLAN),
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/make_demo_world.py --spec '{params.spec}' --outdir results/demo_world >> {log} 2>&1"


rule prepare_dataset:
    input:
        get_dataset_sources,
    output:
        directory(artifacts.PREPARED),
    log:
        "results/logs/data/{dataset}/prepare.log",
    benchmark:
        "results/benchmarks/data/{dataset}/prepare.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/data.yaml"
    params:
        spec=get_dataset_spec,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/prepare_data.py --name {wildcards.dataset} --spec '{params.spec}' "
        "--output_dir {output} >> {log} 2>&1"


rule tokenize_dataset:
    input:
        unpack(get_tokenize_inputs),
    output:
        directory(artifacts.TOKENIZED),
    log:
        "results/logs/data/{dataset}/tokenize_{base}.log",
    benchmark:
        "results/benchmarks/data/{dataset}/tokenize_{base}.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/data.yaml"
    params:
        tokenizer=get_tokenize_args,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/tokenize_data.py --prepared {input.prepared} {params.tokenizer} "
        "--output_dir {output} >> {log} 2>&1"


# scale: rehearsal reads the hub's models and datasets from tiny stand-ins under their real ids;
# every job that reads the hub waits for them (handbook.rehearsal).
rule make_standins:
    output:
        "results/standins/manifest.json",
    log:
        "results/logs/standins.log",
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/train.yaml"
    params:
        configfiles=get_config_files_arg,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/make_standins.py --out results/standins {params.configfiles} >> {log} 2>&1"
