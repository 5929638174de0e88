"""Imports a script's third-party packages, or stops with one line that names the missing package and
the command that installs it (scripts/requirements.txt), instead of a traceback. Standard library only.

    from python_deps import require
    matplotlib = require("matplotlib", "plot.py")
"""
import importlib
import os
import sys

REQUIREMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements.txt")
# Import names whose pip package is called otherwise (matplotlib's own dependencies among them).
PIP_NAMES = {"PIL": "pillow", "dateutil": "python-dateutil", "yaml": "pyyaml"}


def install_hint():
    """The install command for this very interpreter (`python3` on PATH may be another one: a pyenv shim)."""
    return f"{sys.executable or 'python3'} -m pip install -r {os.path.relpath(REQUIREMENTS)}"


def missing_message(script, package):
    return f"{script}: the Python package '{package}' is missing; install it with: {install_hint()}"


# Packages requirements.txt leaves out, each with how to install it.
SEPARATE = {
    "torch": "install the PyTorch wheel for this machine's CUDA (https://pytorch.org/get-started/locally/), "
             "for example: {python} -m pip install torch",
}


def require(module, script):
    """The imported module, or exit(1) with one line when it (or a package it needs) cannot be imported."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = (e.name or module).split(".")[0]
        if top in SEPARATE:
            sys.exit(f"{script}: the Python package '{top}' is missing; "
                     + SEPARATE[top].format(python=sys.executable or "python3"))
        sys.exit(missing_message(script, PIP_NAMES.get(top, top)))
    except ImportError as e:  # installed but broken (a wheel built for another numpy, ...)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.exit(f"{script}: cannot import '{module}' ({first}); reinstall it with: {install_hint()}")
