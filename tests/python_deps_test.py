#!/usr/bin/env python3
"""A python3 without the scripts' packages gets one line naming the package and the install command,
not a traceback; scripts/requirements.txt lists every third-party package the scripts import."""
import ast
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
scripts = os.path.join(here, "..", "scripts")
sample = os.path.join(here, "data", "sample_results.csv")


def run_without(blocked, script, *args):
    """Runs a script with `blocked` made unimportable (None in sys.modules), as in a bare venv."""
    code = ("import runpy, sys\n"
            f"for name in {blocked!r}: sys.modules[name] = None\n"
            f"sys.argv = [{script!r}] + {list(args)!r}\n"
            f"runpy.run_path({script!r}, run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


with tempfile.TemporaryDirectory() as out:
    plot = os.path.join(scripts, "plot.py")
    # matplotlib missing, and numpy missing under it (matplotlib imports numpy): each named, one line.
    cases = [(["matplotlib"], "matplotlib")]
    try:
        import matplotlib  # noqa: F401  (numpy blocked under an installed matplotlib)
        cases.append((["numpy"], "numpy"))
    except ImportError:
        pass
    for blocked, package in cases:
        run = run_without(blocked, plot, sample, "--out", out)
        assert run.returncode == 1, (blocked, run.returncode, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
        assert f"plot.py: the Python package '{package}' is missing; install it with: " in lines[0], lines[0]
        assert lines[0].endswith("-m pip install -r " + os.path.relpath(os.path.join(scripts, "requirements.txt"))), lines[0]
        assert not os.listdir(out)

# peers.py without PyTorch: one line naming it and where its wheel comes from (it is not in
# requirements.txt), after the plan is read, so a bad plan still says so first.
with tempfile.TemporaryDirectory() as out:
    plan = os.path.join(out, "plan.json")
    with open(plan, "w") as f:
        f.write('{"columns": [], "cases": []}')
    run = run_without(["torch"], os.path.join(scripts, "peers.py"), "--plan", plan, "--output", os.path.join(out, "p.csv"))
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and len(lines) == 1 and "Traceback" not in run.stderr, (run.returncode, run.stderr)
    assert lines[0].startswith("peers.py: the Python package 'torch' is missing; install the PyTorch wheel"), lines[0]

# Every third-party package a script imports is in requirements.txt; PyTorch and Triton excepted
# (their wheels depend on the machine's CUDA: the file's comment says where to get them).
with open(os.path.join(scripts, "requirements.txt")) as f:
    required = {line.split(">")[0].split("=")[0].split("<")[0].strip().lower()
                for line in f if line.strip() and not line.startswith("#")}
local = {os.path.splitext(n)[0] for n in os.listdir(scripts) if n.endswith(".py")}
imported = {}
for name in sorted(os.listdir(scripts)):
    if not name.endswith(".py"):
        continue
    tree = ast.parse(open(os.path.join(scripts, name)).read())
    for node in ast.walk(tree):
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                  [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        # python_deps.require("matplotlib", ...) imports too.
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            modules = [node.args[0].value]
        for m in modules:
            imported.setdefault(m.split(".")[0], name)
third_party = {m: s for m, s in imported.items()
               if m not in sys.stdlib_module_names and m not in local and m not in ("torch", "triton")}
sys.path.insert(0, scripts)
from python_deps import PIP_NAMES  # noqa: E402  (a module's pip name where they differ: PIL is pillow)
unlisted = {m: s for m, s in third_party.items() if PIP_NAMES.get(m, m).lower() not in required}
assert not unlisted, f"imported but not in scripts/requirements.txt: {unlisted}"
assert {"matplotlib", "numpy"} <= set(third_party), third_party
print("python dependency tests passed")
