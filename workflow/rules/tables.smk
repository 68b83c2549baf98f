# Comparison tables defined in config (runs, metrics, rows, columns, aggregation over seeds),
# written as CSV, Markdown and a plot, and the training curves of each table's models.


rule make_table:
    input:
        unpack(get_table_inputs),
    output:
        csv=report(
            artifacts.TABLE.replace("{ext}", "csv"),
            category="Tables",
            subcategory="{table}",
            caption="../report/table.rst",
        ),
        md=artifacts.TABLE.replace("{ext}", "md"),
        png=report(
            artifacts.TABLE.replace("{ext}", "png"),
            category="Tables",
            subcategory="{table}",
            caption="../report/table.rst",
        ),
    log:
        "results/logs/tables/{table}.log",
    benchmark:
        "results/benchmarks/tables/{table}.tsv"
    conda:
        "../../envs/tables.yaml"
    params:
        spec=get_table_spec,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/make_table.py --spec {params.spec} --csv {output.csv} --md {output.md} "
        "--png {output.png} >> {log} 2>&1"


rule plot_curves:
    input:
        unpack(get_curve_inputs),
    output:
        report(
            artifacts.CURVES,
            category="Training curves",
            subcategory="{table}",
            caption="../report/curves.rst",
        ),
    log:
        "results/logs/plots/{table}_curves.log",
    benchmark:
        "results/benchmarks/plots/{table}_curves.tsv"
    conda:
        "../../envs/tables.yaml"
    params:
        args=get_curve_args,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/plot_curves.py {params.args} --title 'Training curves: {wildcards.table}' "
        "--output {output} >> {log} 2>&1"
