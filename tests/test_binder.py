"""Binder: an environment built from binder/ alone, as repo2docker builds it, installs and runs every template.

repo2docker (mybinder.org) reads only binder/ when it exists: ``runtime.txt`` picks Python 3.11 and
``requirements.txt`` is installed with the environment's pip from the repository root, after the repository is
copied in (it holds a local reference, ``-e .``). This test does the same in a fresh ``python3.11 -m venv`` and then
runs the whole playbook (every template, small parameters) and every workshop solution notebook with that
environment's interpreter and kernel.

Offline by design (the suite runs without network): pip gets ``--no-index --find-links WHEELHOUSE`` and no pip
configuration of the machine. The wheelhouse holds one wheel per distribution the install needs, re-packed from the
distributions installed in the environment running the tests (the same files, a fresh RECORD): the closure of the
root requirements.txt and of the build backend (pyproject's ``build-system.requires``, plus ``editables`` for an
editable install). So pip's resolver really resolves binder's install step, pins included, and builds the package
with hatchling in isolation, but against exactly the versions this suite tests rather than against PyPI.

What it proves: binder/'s declared install step resolves with the pinned requirements and installs into an empty
Python 3.11 environment without anything else; ``pip check`` is clean there; the kernel of that environment runs
every template and the pack is complete and verifiable. What it does not prove: that PyPI serves the same versions
on the day Binder builds (unpinned ranges may resolve newer), repo2docker's own base environment (its frozen
JupyterLab and server packages) and the image build, and the JupyterLab UI opening on the badge's URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT, SMALL_PARAMS

BINDER = ROOT / "binder"
PROJECT = "readiness-playbook"
ALWAYS_THERE = {"pip", "setuptools"}  # a fresh venv has its own


# -- repo2docker's view of binder/ ------------------------------------------------------------------------------
def test_binder_folder_is_what_repo2docker_reads():
    names = sorted(p.name for p in BINDER.iterdir())
    assert names == ["requirements.txt", "runtime.txt"], names
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    lines = [ln.split("#", 1)[0].strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()]
    assert [ln for ln in lines if ln] == ["-e ."]  # the package with its pinned requirements, from the repo root
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=3.11,<3.12"  # runtime.txt must fall inside it


# -- the offline wheelhouse -------------------------------------------------------------------------------------
def _installed() -> dict[str, metadata.Distribution]:
    out: dict[str, metadata.Distribution] = {}
    for d in metadata.distributions():  # sys.path order: the first of a name is the one imported
        out.setdefault(canonicalize_name(d.metadata["Name"]), d)
    return out


def _requirements_file(path: Path) -> list[str]:
    reqs = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(line)
    return reqs


def closure(roots: list[str], installed: dict[str, metadata.Distribution]) -> set[str]:
    """The installed distributions ``roots`` need, with their dependencies (markers and extras evaluated)."""
    seen: set[tuple[str, frozenset]] = set()
    names: set[str] = set()
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(key)
        dist = installed.get(name)
        if dist is None:
            pytest.fail(f"{req} is needed to build binder's environment but not installed here; "
                        f"pip install -e '.[test]' installs it")
        names.add(name)
        for dep in dist.requires or []:
            r = Requirement(dep)
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(Requirement(str(r).split(";")[0]) if r.marker is not None else r)
    return names


def _wheel_tags(dist: metadata.Distribution) -> str:
    tags = Parser().parsestr(dist.read_text("WHEEL") or "").get_all("Tag") or ["py3-none-any"]
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def repack(dist: metadata.Distribution, folder: Path) -> Path:
    """A wheel of an installed distribution: its files as RECORD lists them (no byte code), scripts and data files
    outside site-packages under ``.data/``, console scripts left for pip to generate again."""
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    info = Path(dist._path).name  # noqa: SLF001 - the .dist-info folder's name
    data = f"{name}-{dist.version}.data"
    prefix = Path(sys.prefix).resolve()
    generated = {e.name for e in dist.entry_points if e.group in ("console_scripts", "gui_scripts")}
    wheel = folder / f"{name}-{dist.version}-{_wheel_tags(dist)}.whl"
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as z:
        for f in dist.files or []:
            if "__pycache__" in f.parts or f.suffix == ".pyc":
                continue
            if f.parts[0] == info and f.name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            path = Path(dist.locate_file(f))
            if ".." in f.parts:
                path = path.resolve()
                if not path.is_relative_to(prefix):
                    continue
                rel = path.relative_to(prefix)
                if rel.parts[0] == "bin":
                    if rel.name in generated:
                        continue
                    arc = f"{data}/scripts/{rel.name}"
                else:
                    arc = f"{data}/data/{rel.as_posix()}"
            else:
                arc = f.as_posix()
            if not path.is_file():
                continue
            body = path.read_bytes()
            if arc.startswith(f"{data}/scripts/") and body.startswith(b"#!") and b"python" in body.split(b"\n", 1)[0]:
                body = b"#!python\n" + body.split(b"\n", 1)[-1]  # pip points it at the new interpreter
            z.writestr(arc, body)
            digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={digest},{len(body)}")
        record.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def wheelhouse(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    installed = _installed()
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    need = closure(_requirements_file(ROOT / "requirements.txt") + build + ["editables"], installed)
    for name in sorted(need - ALWAYS_THERE - {PROJECT}):
        repack(installed[name], folder)
    return folder


def _clean_env(**extra: str) -> dict:
    """The machine's environment without anything that points pip or Python elsewhere."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV", "JUPYTER", "PLAYBOOK_", "CONDA"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf: no other index, find-links or constraints
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return {**env, **extra}


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


PROBE = '''{"cells": [{"cell_type": "code", "execution_count": null, "id": "probe", "metadata": {}, "outputs": [],
  "source": "import json, sys, playbook\\nprint(json.dumps({'executable': sys.executable, 'playbook': playbook.__file__}))"}],
 "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
 "nbformat": 4, "nbformat_minor": 5}'''


@pytest.fixture
def scratch(tmp_path):
    """tmp_path, without its two gigabytes (the wheelhouse and the environment) once the test is done."""
    yield tmp_path
    import shutil

    for big in ("wheelhouse", "venv"):
        shutil.rmtree(tmp_path / big, ignore_errors=True)


@pytest.mark.slow
def test_binder_environment_installs_offline_and_runs_every_template(scratch):
    tmp_path = scratch
    import time

    t0 = time.perf_counter()

    def phase(what: str) -> None:  # shown with -s or on failure: where the minutes go
        print(f"binder: {what} done at {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    wh = wheelhouse(tmp_path / "wheelhouse")
    phase(f"wheelhouse of {len(list(wh.iterdir()))} wheels")
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", None) or sys.executable  # python3.11 itself, not this venv
    _check(subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True), "python3.11 -m venv")
    py = venv / "bin" / "python"
    env = _clean_env(JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"), HOME=str(tmp_path / "home"),
                     MPLBACKEND="Agg")
    (tmp_path / "home").mkdir()

    # repo2docker: ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r "binder/requirements.txt", in the repo
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "--no-cache-dir", "--no-index", "--find-links", str(wh), "--no-compile",
         "-r", "binder/requirements.txt"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    _check(install, "pip install -r binder/requirements.txt")
    phase("install")
    _check(subprocess.run([str(py), "-m", "pip", "check"], env=env, capture_output=True, text=True), "pip check")
    versions = json.loads(subprocess.run([str(py), "-m", "pip", "list", "--format", "json"], env=env,
                                         capture_output=True, text=True).stdout)
    assert {canonicalize_name(v["name"]) for v in versions} >= {"readiness-playbook", "jupyterlab", "papermill"}

    # the kernel is this environment's interpreter, and it imports the playbook from the repository
    probe = tmp_path / "probe.ipynb"
    probe.write_text(PROBE)
    _check(subprocess.run([str(py), "-m", "papermill", str(probe), str(tmp_path / "probe.out.ipynb"), "-k", "python3",
                           "--no-progress-bar"], env=env, capture_output=True, text=True, timeout=300), "papermill")
    out = json.loads((tmp_path / "probe.out.ipynb").read_text())
    seen = json.loads("".join(out["cells"][0]["outputs"][0]["text"]))
    assert Path(seen["executable"]).parent == venv / "bin", seen
    assert Path(seen["playbook"]).resolve().is_relative_to(ROOT), seen
    phase("kernel probe")

    # every template, through `playbook run` on small parameters
    overrides = [a for p in SMALL_PARAMS for a in ("-p", p)]
    run = subprocess.run([str(py), "-m", "playbook", "run", str(ROOT / "tests" / "data" / "small.yaml"),
                          "--out", str(tmp_path / "evidence"), "--name", "binder", "-q", *overrides],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert run.returncode in (0, 1), run.stdout + run.stderr[-3000:]  # go or no-go: every step ran to the end
    summary = json.loads((tmp_path / "evidence" / "binder" / "summary.json").read_text())
    templates = sorted(p.stem for p in (ROOT / "templates").glob("[0-9][0-9]_*.ipynb"))
    assert [s["name"] for s in summary["steps"]] == [t.split("_", 1)[1] for t in templates]
    assert all(s["status"] != "error" for s in summary["steps"]), summary["steps"]
    _check(subprocess.run([str(py), "-m", "playbook", "verify", str(tmp_path / "evidence" / "binder")], env=env,
                          capture_output=True, text=True), "playbook verify")
    phase("every template")

    # every workshop solution notebook (the exercises have blanks to fill), when the workshop exists: run from
    # workshop/ with its feedback written to a folder of the test
    workshop = sorted((ROOT / "workshop").glob("**/*.ipynb"))
    solutions = [p for p in workshop if "solution" in str(p.relative_to(ROOT)).lower()] or workshop
    for nb in solutions:
        out = tmp_path / "workshop-out" / nb.stem
        out.mkdir(parents=True)
        done = subprocess.run([str(py), "-m", "papermill", str(nb), str(out / nb.name), "-k", "python3",
                               "--cwd", str(ROOT / "workshop"), "-p", "output_dir", str(out), "--no-progress-bar"],
                              env=env, capture_output=True, text=True, timeout=900)
        _check(done, f"papermill {nb.relative_to(ROOT)}")
    phase(f"{len(solutions)} workshop notebooks")
