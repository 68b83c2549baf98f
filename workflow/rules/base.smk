# The tiny base model, built offline: a BPE tokenizer trained on the corpus, then a random init.


rule train_tokenizer:
    input:
        corpus=get_base_corpus,
    output:
        directory("results/tokenizers/{base}"),
    log:
        "results/logs/base/{base}_tokenizer.log",
    conda:
        "../../envs/train.yaml"
    params:
        vocab_size=get_base_vocab_size,
        script=SCRIPTS / "train_tokenizer.py",
    shell:
        "python {params.script} --corpus {input.corpus} --vocab_size {params.vocab_size} "
        "--output_dir {output} > {log} 2>&1"


rule init_model:
    input:
        tokenizer="results/tokenizers/{base}",
    output:
        directory("results/models/base/{base}"),
    log:
        "results/logs/base/{base}_init.log",
    conda:
        "../../envs/train.yaml"
    params:
        arch=get_base_arch,
        seed=get_base_seed,
        script=SCRIPTS / "init_model.py",
    shell:
        "python {params.script} --tokenizer {input.tokenizer} --arch '{params.arch}' "
        "--seed {params.seed} --output_dir {output} > {log} 2>&1"
