# Training data against the prompts it is evaluated on (handbook/decontamination.py): each dataset
# against the prompt sets of the tables whose models train on it, then a report per table. With
# decontamination.max_fraction set, training jobs wait for their dataset's check.


rule decontaminate:
    input:
        unpack(get_decontamination_inputs),
    output:
        artifacts.DECONTAMINATION,
    log:
        "results/logs/decontamination/{dataset}.log",
    benchmark:
        "results/benchmarks/decontamination/{dataset}.tsv"
    priority: schedule.FEEDS_TRAINING
    conda:
        "../../envs/data.yaml"
    params:
        spec=get_decontamination_spec,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/decontaminate.py --spec {params.spec} --output {output} >> {log} 2>&1"


rule decontamination_report:
    input:
        unpack(get_decontamination_report_inputs),
    output:
        artifacts.DECONTAMINATION_REPORT,
    log:
        "results/logs/decontamination/{table}_report.log",
    wildcard_constraints:
        table=r"[^/]+",
    conda:
        "../../envs/data.yaml"
    params:
        spec=get_decontamination_report_spec,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/decontamination_report.py --spec {params.spec} --checks {input.checks} "
        "--output {output} >> {log} 2>&1"
