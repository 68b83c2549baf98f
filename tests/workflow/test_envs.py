"""Static checks of the conda envs: conda cannot create them here, so their shape is checked
instead.

Every rule names an env that exists, every env parses, every version is pinned, and a package pinned
in several places (pyproject.toml, the envs) has one version everywhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, make_workdir, workflow_env
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
GPU_PACKAGES = {"torch", "flash-attn", "deepspeed", "bitsandbytes", "liger-kernel", "vllm"}

# Loads the workflow with Snakemake itself (in a child process: the API changes logging and the
# working directory) and prints each rule's file and conda directive. `all` has no job to run, so
# no env.
RULES_SCRIPT = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.iocontainers import Wildcards
from snakemake.settings.types import ResourceSettings


def envs_of(rule, config):
    # An env chosen by a function is evaluated for every configured run.
    env = rule.conda_env
    if not callable(env):
        return [env] if env else []
    if rule.name == "judge_verdicts":  # by judge and table, of every table the plan has
        tables = workflow.globals["PLAN"].config["tables"]
        return sorted(
            {
                env(Wildcards(fromdict={"judge": j, "table": t}))
                for t, spec in tables.items()
                for j in spec.get("judges", [])
            }
        )
    return sorted(
        {
            env(Wildcards(fromdict={"stage": s, "run": r}))
            for s, runs in config["runs"].items()
            for r in runs
        }
    )

with SnakemakeApi() as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(), snakefile=Path(sys.argv[1]), workdir=Path(sys.argv[2])
    )._workflow
    rules = [
        {
            "name": r.name,
            "snakefile": str(r.snakefile),
            "conda": envs_of(r, workflow.config),
            "norun": bool(r.norun),
        }
        for r in workflow.rules
    ]
print("RULES " + json.dumps(rules))
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("envs"))
    proc = subprocess.run(
        [sys.executable, "-c", RULES_SCRIPT, str(REPO / "workflow/Snakefile"), str(work)],
        cwd=work,
        env=workflow_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RULES ")), None)
    assert line, f"could not load the workflow:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(line[len("RULES ") :])


def load_env(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def pip_requirements(env: dict) -> list[Requirement]:
    """The pip section's requirements (option lines such as --extra-index-url are not packages)."""
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return [
        Requirement(line) for section in sections for line in section if not line.startswith("-")
    ]


def conda_pins(env: dict) -> dict[str, str]:
    """conda specs are `name=version` (one '='), not PEP 508; only the plain ones are read here."""
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, _, version = dep.partition("=")
            pins[canonicalize_name(name)] = version.lstrip("=")
    return pins


def exact_version(req: Requirement) -> str | None:
    specs = list(req.specifier)
    return specs[0].version if len(specs) == 1 and specs[0].operator == "==" else None


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    reqs = [Requirement(line) for line in lines]
    return {canonicalize_name(r.name): exact_version(r) for r in reqs if exact_version(r)}


def test_every_rule_uses_an_existing_env(rules):
    rule_files = sorted((REPO / "workflow/rules").glob("*.smk"))
    declared = sum(
        line.startswith(("rule ", "checkpoint ", "use rule "))
        for f in rule_files
        for line in f.read_text().splitlines()
    )
    in_rule_files = [r for r in rules if Path(r["snakefile"]).parent == REPO / "workflow/rules"]
    assert len(in_rule_files) == declared, (
        "Snakemake loaded a different set of rules than the files declare"
    )
    for rule in rules:
        if rule["norun"]:
            continue
        assert rule["conda"], f"rule {rule['name']} ({rule['snakefile']}) has no conda: directive"
        for name in rule["conda"]:
            env = (Path(rule["snakefile"]).parent / name).resolve()
            assert env.parent == REPO / "envs" and env.is_file(), (
                f"rule {rule['name']}: no env file {env}"
            )


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_file_is_a_pinned_conda_env(path):
    env = load_env(path)
    assert isinstance(env.get("name"), str) and env["name"], f"{path.name}: no name"
    assert isinstance(env.get("channels"), list) and env["channels"], f"{path.name}: no channels"
    assert isinstance(env.get("dependencies"), list) and env["dependencies"], (
        f"{path.name}: no dependencies"
    )
    assert "python" in conda_pins(env), f"{path.name}: python is not pinned"
    for name, version in conda_pins(env).items():
        assert version, f"{path.name}: conda package {name} has no version"
    for req in pip_requirements(env):
        assert exact_version(req), f"{path.name}: {req} is not pinned with =="


def test_envs_agree_with_pyproject_and_each_other():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    python_range = SpecifierSet(project["requires-python"])
    seen = {name: (version, "pyproject.toml") for name, version in pyproject_pins().items()}
    for path in ENV_FILES:
        env = load_env(path)
        assert python_range.contains(conda_pins(env)["python"]), (
            f"{path.name}: python outside {python_range}"
        )
        for req in pip_requirements(env):
            name, version = canonicalize_name(req.name), exact_version(req)
            first = seen.setdefault(name, (version, path.name))
            assert first[0] == version, (
                f"{name}: {version} in {path.name} but {first[0]} in {first[1]}"
            )


def test_gpu_env_pins_the_gpu_stack():
    pins = {
        canonicalize_name(r.name): exact_version(r)
        for r in pip_requirements(load_env(REPO / "envs/gpu.yaml"))
    }
    missing = sorted(p for p in GPU_PACKAGES if not pins.get(p))
    assert not missing, f"envs/gpu.yaml does not pin {missing}"
    assert pins["deepspeed"] == "0.19.8"
