"""The workflow used as a Snakemake module from another project, as the workflow catalog deploys it
(config/README.md): that project's own Snakefile declares the module, its own config/config.yaml
extends the defaults, and its own recipe file is read from its folder.

snakedeploy's `deploy-workflow` writes the same declaration (with `github(...)`); from a local
path it copies the whole folder and declares a Snakefile relative to the copy, so the test writes
the declaration itself.
"""

from __future__ import annotations

import json
import shutil
import textwrap

from conftest import REPO, run_snakemake

DECLARATION = textwrap.dedent(
    """\
    configfile: "config/config.yaml"


    module handbook:
        snakefile:
            "{snakefile}"
        config:
            config


    use rule * from handbook
    """
)
OWN_CONFIG = textwrap.dedent(
    """\
    # Another demo world, and one more SFT run beside the demo's from a recipe file of this
    # project's.
    demo_world: {seed: 5}
    runs:
      sft:
        mine:
          model: base/tiny
          dataset: demo_sft
          recipe: my_recipes/sft.yaml
          args: {learning_rate: 1.0e-3}
    """
)


def deploy(folder):
    (folder / "workflow").mkdir(parents=True)
    (folder / "config").mkdir()
    (folder / "my_recipes").mkdir()
    snakefile = REPO / "workflow" / "Snakefile"
    (folder / "workflow" / "Snakefile").write_text(DECLARATION.format(snakefile=snakefile))
    (folder / "config" / "config.yaml").write_text(OWN_CONFIG)
    shutil.copy(REPO / "config/recipes/demo/sft/tiny.yaml", folder / "my_recipes" / "sft.yaml")
    return folder


def test_a_project_uses_the_workflow_as_a_module_with_its_own_config(tmp_path):
    project = deploy(tmp_path / "project")
    demo = run_snakemake(project, "-n", repo=project).stdout
    # The demo's default target, as `make demo` plans it in this repository.
    assert "make_table" in demo and "total" in demo
    jobs = {
        line.split()[0]: line.split()[1] for line in demo.splitlines() if len(line.split()) == 2
    }
    assert jobs["train_model"] == jobs["eval_demo"] == "17"

    own = run_snakemake(project, "-n", "-p", "results/models/sft/mine", repo=project).stdout
    assert "input: my_recipes/sft.yaml" in own and "--learning_rate 0.001" in own

    # A job runs there as here: its script comes from the module's checkout, its config from the
    # project's.
    run_snakemake(
        project, "results/demo_world/manifest.json", "results/plan_costs.md", repo=project
    )
    world = json.loads((project / "results/demo_world/provenance.json").read_text())
    assert world["command"][1] == str(REPO / "scripts" / "make_demo_world.py")
    assert world["config"]["seed"] == 5 and world["config"]["n_towns"] > 0
    # The cost plan builds the plan again in its job, from the project's config too.
    assert "sft/mine" in (project / "results/plan_costs.md").read_text()
