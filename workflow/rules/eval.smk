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
    threads: 2
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
