# Comparison tables: one row per configured label, mean and std over its runs (seeds).


rule make_table:
    input:
        get_table_inputs,
    output:
        csv=report(
            "results/tables/{table}.csv",
            category="Tables",
            caption="../report/table.rst",
        ),
        md="results/tables/{table}.md",
    log:
        "results/logs/tables/{table}.log",
    conda:
        "../../envs/tables.yaml"
    params:
        rows=get_table_rows,
        script=SCRIPTS / "make_table.py",
    shell:
        "python {params.script} --table {wildcards.table} --rows '{params.rows}' "
        "--csv {output.csv} --md {output.md} > {log} 2>&1"
