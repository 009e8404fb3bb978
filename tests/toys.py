"""Tiny templates for runner tests (fast: no evidently import)."""

from pathlib import Path

import nbformat as nbf

PARAMS = ('config: str = ""  # pack config\noutput_dir: str = ""  # step folder\n'
          'pack_dir: str = ""  # the pack\nthreshold: float = 0.5  # minimum rows')


def make(path: Path, name: str, body: str) -> Path:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbf.v4.new_markdown_cell(f"# Toy step {name}\nFor tests."))
    c = nbf.v4.new_code_cell(PARAMS)
    c.metadata["tags"] = ["parameters"]
    nb.cells.append(c)
    nb.cells.append(nbf.v4.new_code_cell(
        "import playbook\nctx = playbook.load_context(config, pack_dir=pack_dir)\n"
        f"step = ctx.step({name!r}, output_dir)\n" + body))
    nbf.write(nb, str(path))
    return path


GOOD = '''step.check("toy.rows", "Enough rows", "pass" if len(ctx.reference) > threshold else "fail",
           value=len(ctx.reference), threshold={"min": threshold}, evidence="artifacts/rows.json")
open(step.artifact("rows.json"), "w").write('{"rows": %d}' % len(ctx.reference))
step.note("task", ctx.task)
step.save()
'''

READER = '''prev = ctx.previous("toy")
step.check("reader.saw_previous", "Saw the earlier step", "pass" if prev else "fail", value=bool(prev))
step.save()
'''

BOOM = '''raise ValueError("column 'x' exploded")
'''


def folder(tmp_path: Path, *specs: tuple[str, str, str]) -> Path:
    d = tmp_path / "templates"
    d.mkdir(exist_ok=True)
    for fname, name, body in specs:
        make(d / fname, name, body)
    return d
