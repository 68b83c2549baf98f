# Language-model training stages that share SFTTrainer: continued pretraining and SFT.
# Trainer checkpoints live outside the declared output, so a failed or killed job resumes.


rule train_lm:
    input:
        unpack(get_train_inputs),
    output:
        model=directory("results/models/{stage}/{run}"),
    log:
        "results/logs/{stage}/{run}.log",
    benchmark:
        "results/benchmarks/{stage}/{run}.tsv"
    wildcard_constraints:
        stage="cpt|sft",
    conda:
        "../../envs/train.yaml"
    threads: 8
    resources:
        gpu=get_run_gpus,
        mem_mb=16000,
        runtime=720,
    params:
        launcher=get_launcher,
        script=get_train_script,
        model=get_train_model,
        checkpoint_dir="results/checkpoints/{stage}/{run}",
        args=get_run_args,
    shell:
        "OMP_NUM_THREADS={threads} TRL_EXPERIMENTAL_SILENCE=1 {params.launcher} {params.script} "
        "--config {input.recipe} --model_name_or_path {params.model} --dataset_path {input.data} "
        "--checkpoint_dir {params.checkpoint_dir} --output_dir {output.model} {params.args} > {log} 2>&1"
