"""fastnn's type information (PEP 561): ``mypy --strict`` passes on README-style user code.

``tests/typing/readme_examples.py`` is the README's examples written as a user
of a strictly type-checked project writes them.  mypy checks it the way it
checks a user's script against an installed fastnn: fastnn is found on the
module search path of the interpreter (here a directory holding only a link
to this package, as site-packages would), so mypy reads fastnn's inline
annotations because of ``fastnn/py.typed`` and does not report errors inside
fastnn itself.  (Run from the repository root, mypy would take ``fastnn/`` for
the user's own code and check it too.)  No mypy configuration is used: a user
needs none.
"""

import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import fastnn

SCRIPT = pathlib.Path(__file__).resolve().parent / "typing" / "readme_examples.py"
PACKAGE = pathlib.Path(fastnn.__file__).resolve().parent


def test_package_is_marked_typed():
    assert (PACKAGE / "py.typed").is_file()


def _installed_like(tmp_path):
    """A directory that holds fastnn and nothing else, like site-packages."""
    site = tmp_path / "site"
    site.mkdir()
    try:
        (site / "fastnn").symlink_to(PACKAGE, target_is_directory=True)
    except OSError:   # no symlinks here: copy the sources and the marker
        shutil.copytree(PACKAGE, site / "fastnn",
                        ignore=shutil.ignore_patterns("*.c", "*.so", "*.pyd", "__pycache__"))
    return site


def test_readme_examples_pass_mypy_strict(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    env = dict(os.environ)
    env.pop("MYPYPATH", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_installed_like(tmp_path))] + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, "-m", "mypy", "--strict", "--config-file=",
           "--cache-dir", str(tmp_path / "mypy_cache"), str(SCRIPT)]
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, (
        "mypy --strict failed on %s:\n%s%s" % (SCRIPT.name, run.stdout, run.stderr))
    assert "Success" in run.stdout, run.stdout + run.stderr


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                   # the examples save a model file
    spec = importlib.util.spec_from_file_location("readme_examples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = fastnn.get_num_threads()
    try:
        module.main(quick=True)
    finally:
        fastnn.set_num_threads(before)
    assert (tmp_path / "digits.npz").is_file()
