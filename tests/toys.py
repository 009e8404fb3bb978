"""Tiny templates for runner tests (fast: no evidently import)."""

from pathlib import Path

import nbformat as nbf

PARAMS = ('config: str = ""  # pack config\noutput_dir: str = ""  # step folder\n'
          'pack_dir: str = ""  # the pack\nthreshold: float = 0.5  # minimum rows')


def make(path: Path, name: str, body: str, params: str = PARAMS) -> Path:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbf.v4.new_markdown_cell(f"# Toy step {name}\nFor tests."))
    c = nbf.v4.new_code_cell(params)
    c.metadata["tags"] = ["parameters"]
    nb.cells.append(c)
    nb.cells.append(nbf.v4.new_code_cell(
        "import playbook\nctx = playbook.load_context(config, pack_dir=pack_dir)\n"
        f"step = ctx.step({name!r}, output_dir)\n" + body))
    nbf.write(nb, str(path))
    return path


GOOD = '''step.check("custom.toy.rows", "Enough rows", "pass" if len(ctx.reference) > threshold else "fail",
           value=len(ctx.reference), threshold={"min": threshold}, evidence="artifacts/rows.json")
open(step.artifact("rows.json"), "w").write('{"rows": %d}' % len(ctx.reference))
step.note("task", ctx.task)
step.save()
'''

READER = '''prev = ctx.previous("toy")
step.check("custom.reader.saw_previous", "Saw the earlier step", "pass" if prev else "fail", value=bool(prev))
step.save()
'''

BOOM = '''raise ValueError("column 'x' exploded")
'''


SLOW = '''print("reached: before the long wait", flush=True)
import time
for _ in range(600):
    time.sleep(0.1)
step.save()
'''

# the kernel is killed the way the out-of-memory killer does it, after logging a line of its own
OOM = '''import os, signal, sys
print("allocating 64 GiB for the feature matrix", file=sys.__stderr__, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''

# records the parameter and config values exactly as the notebook received them, and what the kernel can see
ECHO_PARAMS = PARAMS + '\nlabel: str = ""  # free text\ntags: list = []  # free list'
ECHO = '''import os
step.check("custom.echo", "Echo", "pass", value={"label": label, "tags": tags, "currency": ctx.business.currency,
           "key_visible": "PLAYBOOK_SIGNING_KEY" in os.environ})
step.save()
'''


def folder(tmp_path: Path, *specs: tuple) -> Path:
    d = tmp_path / "templates"
    d.mkdir(exist_ok=True)
    for spec in specs:
        fname, name, body = spec[:3]
        make(d / fname, name, body, *spec[3:])
    return d

NAP = '''import time
print("napping", flush=True)
time.sleep(3)
''' + GOOD

# a careless template: raw HTML outputs, an unescaped Styler caption, a CSV written without the safe writer
CARELESS = '''import pandas as pd
from IPython.display import HTML, Markdown, display
display(HTML("<p>ok</p><img src=x onerror=alert(1)>"))
display(Markdown("**bold** <script>alert(2)</script>"))
display(pd.DataFrame({"g": ["<script>alert(3)</script>"]}).style.set_caption("<img src=x onerror=alert(4)>"))
pd.DataFrame({"v": ["=HYPERLINK(1)", "@SUM(A1)", "fine"], "n": [-1.5, 2, 3]}).to_csv(step.artifact("rows.csv"), index=False)
step.check("custom.careless", "Careless", "pass", value=1)
step.save()
'''

# waits until the file named by $TOY_GO_FILE exists (at most 120 s): a step that runs exactly as long as a test needs
WAIT = '''import os, time
t0 = time.monotonic()
while not os.path.exists(os.environ.get("TOY_GO_FILE", "")) and time.monotonic() - t0 < 120:
    time.sleep(0.05)
''' + GOOD

# what a warm kernel (playbook.kernels) left in the notebook's namespace and the module cache: nothing but modules
CLEAN = '''import sys
seen = sorted(k for k in globals() if not k.startswith("_") and k not in ("In", "Out", "exit", "quit", "get_ipython"))
step.check("custom.clean", "Fresh namespace", "pass", value={
    "names": seen, "count": get_ipython().execution_count, "warm": "mailbox" in sys.modules,
    "cwd": __import__("os").getcwd() == output_dir})
step.save()
'''

# two steps that can only both pass side by side: each writes its flag, then waits (at most $TOY_SIDE_WAIT s, default
# 60) for the other's
SIDE = '''import os, time
flags = os.path.dirname(pack_dir.rstrip("/")) + "/flags"
os.makedirs(flags, exist_ok=True)
open(f"{flags}/{step.name}", "w").close()
other = {"left": "right", "right": "left"}[step.name]
t0 = time.monotonic()
while not os.path.exists(f"{flags}/{other}") and time.monotonic() - t0 < float(os.environ.get("TOY_SIDE_WAIT", 60)):
    time.sleep(0.05)
step.check(f"custom.{step.name}.side_by_side", "Ran beside the other", "pass" if os.path.exists(f"{flags}/{other}") else "fail",
           value=round(time.monotonic() - t0, 2))
step.save()
'''

# writes its flag beside the pack's build folder, then runs until it is stopped
HANG = '''import os, time
flags = os.path.dirname(pack_dir.rstrip("/")) + "/flags"
os.makedirs(flags, exist_ok=True)
open(f"{flags}/{step.name}", "w").close()
time.sleep(600)
'''
