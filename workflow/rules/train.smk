# Every training method runs through this one rule: methods differ only in their entry point and
# the data they read, both declared in the method registry (scripts/handbook/methods.py).
# Trainer checkpoints live outside the declared output, so a failed or killed job resumes.


rule train_model:
    input:
        unpack(get_train_inputs),
    output:
        model=directory(artifacts.MODEL),
    log:
        "results/logs/{stage}/{run}.log",
    benchmark:
        "results/benchmarks/{stage}/{run}.tsv"
    wildcard_constraints:
        stage=stage_pattern(),
        run=PLAN.run_pattern(),
    priority: get_train_priority
    conda:
        get_train_env
    threads: get_train_threads
    resources:
        gpu=get_train_gpus,
        cpus_per_task=get_train_threads,
        mem_mb=get_train_mem_mb,
        runtime=get_train_runtime,
        nodes=get_train_nodes,
    params:
        launcher=get_launcher,
        script=get_train_script,
        model=get_train_model,
        checkpoint_dir=artifacts.CHECKPOINTS,
        args=get_train_args,
    shell:
        "log_attempt {log}; python -m handbook.device_check {params.args} >> {log} 2>&1 && "
        "OMP_NUM_THREADS={threads} TRL_EXPERIMENTAL_SILENCE=1 {params.launcher} $HANDBOOK_SCRIPTS/{params.script} "
        "--config {input.recipe} --model_name_or_path {params.model} --dataset_path {input.data} "
        "--checkpoint_dir {params.checkpoint_dir} --output_dir {output.model} --stage {wildcards.stage} "
        "{params.args} >> {log} 2>&1"


rule compute_ref_logps:
    input:
        unpack(get_reference_inputs),
    output:
        directory(artifacts.REF_LOGPS),
    log:
        "results/logs/ref_logps/{dataset}/{stage}/{run}.log",
    benchmark:
        "results/benchmarks/ref_logps/{dataset}/{stage}/{run}.tsv"
    priority: schedule.UNBLOCKS_MANY
    conda:
        "../../envs/train.yaml"
    threads: get_reference_threads
    resources:
        gpu=get_reference_gpus,
        mem_mb=get_reference_mem_mb,
        runtime=get_reference_runtime,
    params:
        model=get_reference_model,
        settings=get_reference_args,
    shell:
        "log_attempt {log}; OMP_NUM_THREADS={threads} exec python $HANDBOOK_SCRIPTS/ref_logps.py "
        "--model_name_or_path {params.model} --dataset_path {input.data} {params.settings} "
        "--output_dir {output} >> {log} 2>&1"
