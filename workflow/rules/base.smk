# The tiny base model, built offline: a BPE tokenizer trained on the corpus, then a random init.


rule train_tokenizer:
    input:
        unpack(get_tokenizer_train_inputs),
    output:
        directory(artifacts.TOKENIZER),
    log:
        "results/logs/base/{base}_tokenizer.log",
    benchmark:
        "results/benchmarks/base/{base}_tokenizer.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/train.yaml"
    params:
        args=get_tokenizer_train_args,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/train_tokenizer.py --corpus {input.corpus} {params.args} "
        "--output_dir {output} >> {log} 2>&1"


rule init_model:
    input:
        unpack(get_init_inputs),
    output:
        directory(artifacts.BASE_MODEL),
    log:
        "results/logs/base/{base}_init.log",
    benchmark:
        "results/benchmarks/base/{base}_init.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/train.yaml"
    params:
        args=get_init_args,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/init_model.py --tokenizer {input.tokenizer} {params.args} "
        "--output_dir {output} >> {log} 2>&1"
