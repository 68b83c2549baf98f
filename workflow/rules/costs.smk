# The cost plan: each job's training tokens, optimizer steps, FLOPs, GPU-hours, wall time against
# its time limit and memory per GPU, with totals per table (docs/costs.md). It reads the plan and
# whatever data summaries are built when it runs: rebuild it with --forcerun plan_costs.


rule plan_costs:
    output:
        md=artifacts.PLAN_COSTS.replace("{ext}", "md"),
        csv=artifacts.PLAN_COSTS.replace("{ext}", "csv"),
    log:
        "results/logs/plan_costs.log",
    conda:
        "../../envs/train.yaml"
    params:
        scale=PLAN.scale,
        configfiles=get_config_files_arg,
    shell:
        "log_attempt {log}; exec python $HANDBOOK_SCRIPTS/plan_costs.py --scale {params.scale} --md {output.md} "
        "--csv {output.csv} {params.configfiles} >> {log} 2>&1"
