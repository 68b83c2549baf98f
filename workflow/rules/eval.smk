# Evaluation on the demo world's held-out prompts: accuracy (chat and plain formats), style, loss.


rule eval_demo:
    input:
        unpack(get_eval_inputs),
    output:
        scores="results/eval/{stage}/{run}/demo.json",
        samples="results/eval/{stage}/{run}/demo_samples.json",
    log:
        "results/logs/eval/{stage}/{run}.log",
    benchmark:
        "results/benchmarks/eval/{stage}/{run}.tsv"
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        model=get_eval_model,
        loss_data=get_eval_loss_arg,
        num_samples=config["eval"]["demo"]["num_samples"],
        max_new_tokens=config["eval"]["demo"]["max_new_tokens"],
        script=SCRIPTS / "eval_demo.py",
    shell:
        "OMP_NUM_THREADS={threads} python {params.script} --model {params.model} --prompts {input.prompts} "
        "{params.loss_data} --num_samples {params.num_samples} --max_new_tokens {params.max_new_tokens} "
        "--output {output.scores} > {log} 2>&1"


rule judge_winrate:
    input:
        unpack(get_judge_inputs),
    output:
        "results/eval/{stage}/{run}/winrate.json",
    log:
        "results/logs/eval/{stage}/{run}_winrate.log",
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        model=get_judge_model,
        script=SCRIPTS / "judge_winrate.py",
    shell:
        "OMP_NUM_THREADS={threads} python {params.script} --reward_model {params.model} "
        "--samples {input.samples} --baseline {input.baseline} --output {output} > {log} 2>&1"


rule eval_reward:
    input:
        unpack(get_reward_eval_inputs),
    output:
        "results/eval/rm/{run}/reward.json",
    log:
        "results/logs/eval/rm/{run}.log",
    conda:
        "../../envs/eval.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        script=SCRIPTS / "eval_reward.py",
    shell:
        "OMP_NUM_THREADS={threads} python {params.script} --model {input.model} "
        "--pairs {input.pairs} --output {output} > {log} 2>&1"
