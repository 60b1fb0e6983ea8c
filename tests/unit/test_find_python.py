"""scripts/find_python.py and the Makefile's newest-Python leg, on fake machines made in tmp dirs.

Interpreters are asked for by this test's own version (``3.11`` when run on 3.11): every "real" one
below is a link to the interpreter running the test, so each probe truly runs Python. The broken ones
are what users meet: a pyenv shim answering "command not found", a Python without ensurepip, the
wrong version under the right name. No test installs anything: the Makefile is run with ``-n`` where
a virtualenv would be made, and the skip and the CI failure happen before any install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "find_python.py"
VERSION = "{}.{}".format(*sys.version_info[:2])
REAL = os.path.realpath(sys.executable)  # the base interpreter, not a venv's link (no pyvenv.cfg beside a copy)
ABSENT = "3.99"
# What the Makefile and scripts/test_all.sh call, and nothing else: /usr/bin may hold a python3.X
TOOLS = ("make", "sh", "bash", "date", "rm", "touch", "mktemp", "dirname", "cat", "env")


def system(tmp_path: Path) -> str:
    """A PATH entry holding only the machine's tools that are not Python (made by the fixture below)."""
    return str(tmp_path / "system")


@pytest.fixture(autouse=True)
def _system_tools(tmp_path: Path) -> None:
    tools = Path(system(tmp_path))
    tools.mkdir()
    for name in TOOLS:
        for directory in ("/usr/bin", "/bin"):
            if os.path.exists(f"{directory}/{name}"):
                (tools / name).symlink_to(f"{directory}/{name}")
                break


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def link(path: Path, target: str = REAL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def shim(directory: Path, name: str) -> Path:
    """What pyenv's shim does for a version no pyenv version provides."""
    return script(directory / name, f'echo "pyenv: {name}: command not found" >&2\nexit 127\n')


def find(tmp_path: Path, version: str = VERSION, *args: str, path: str = "", **env: str):
    """Run the script on a fake machine: an empty HOME unless given, PATH = ``path`` + the system's."""
    environment = {"HOME": str(tmp_path / "home"), "PATH": os.pathsep.join(p for p in (path, system(tmp_path)) if p),
                   **env}
    (tmp_path / "home").mkdir(exist_ok=True)
    return subprocess.run([REAL, str(SCRIPT), version, *args], capture_output=True, text=True, env=environment,
                          timeout=120, check=False)


def found(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_shim_first_on_path_is_skipped_for_a_real_one_later(tmp_path):
    shims, real = tmp_path / "shims", tmp_path / "bin"
    shim(shims, f"python{VERSION}")
    link(real / f"python{VERSION}")
    assert found(find(tmp_path, path=f"{shims}:{real}")) == str(real / f"python{VERSION}")


def test_only_a_shim_and_nothing_else_is_not_found_and_says_where_it_looked(tmp_path):
    shims = tmp_path / "shims"
    shim(shims, f"python{VERSION}")
    done = find(tmp_path, path=str(shims))
    assert done.returncode == 1 and done.stdout == ""
    assert f"no usable Python {VERSION} found" in done.stderr
    assert "command not found" in done.stderr and str(shims) in done.stderr


def test_the_wrong_version_or_no_ensurepip_under_the_right_name_is_refused(tmp_path):
    wrong, bare = tmp_path / "wrong", tmp_path / "bare"
    script(wrong / f"python{VERSION}", 'echo 3.10; echo /somewhere/python3.10\n')
    script(bare / f"python{VERSION}", "echo \"ModuleNotFoundError: No module named 'ensurepip'\" >&2; exit 1\n")
    done = find(tmp_path, path=f"{wrong}:{bare}")
    assert done.returncode == 1
    assert "is Python 3.10" in done.stderr and "No module named 'ensurepip'" in done.stderr


def test_pyenv_root_is_asked_where_pyenv_lives_and_its_newest_patch_wins(tmp_path):
    root, tools = tmp_path / "somewhere" / "pyenv", tmp_path / "tools"
    script(tools / "pyenv", f'[ "$1" = root ] && echo {root}\n')
    shim(tools, f"python{VERSION}")  # pyenv's shim on PATH, as after `eval "$(pyenv init -)"`
    for patch in ("9", "10", "2"):
        link(root / "versions" / f"{VERSION}.{patch}" / "bin" / f"python{VERSION}")
    (root / "versions" / f"{VERSION}.11-dev").mkdir()  # not a release; and no binary inside
    assert found(find(tmp_path, path=str(tools))) == str(root / "versions" / f"{VERSION}.10" / "bin" / f"python{VERSION}")


def test_pyenv_root_from_the_environment_and_under_home(tmp_path):
    root = tmp_path / "root-from-env"
    link(root / "versions" / f"{VERSION}.1" / "bin" / f"python{VERSION}")
    assert found(find(tmp_path, PYENV_ROOT=str(root))) == str(root / "versions" / f"{VERSION}.1" / "bin" / f"python{VERSION}")
    home = tmp_path / "user"
    link(home / ".pyenv" / "versions" / f"{VERSION}.3" / "bin" / f"python{VERSION}")
    assert found(find(tmp_path, HOME=str(home))) == str(home / ".pyenv" / "versions" / f"{VERSION}.3" / "bin" / f"python{VERSION}")


def test_a_py_launcher_is_asked_for_the_version(tmp_path):
    tools = tmp_path / "tools"
    script(tools / "py", f'[ "$1" = "-{VERSION}" ] || exit 3\nshift\nexec {REAL} "$@"\n')
    assert found(find(tmp_path, path=str(tools))) == REAL  # the interpreter's own path, not the launcher's


def test_uv_is_asked_and_its_install_dir_is_read(tmp_path):
    tools, managed = tmp_path / "tools", tmp_path / "managed" / f"python{VERSION}"
    link(managed)
    script(tools / "uv", f'[ "$1 $2 $3" = "python find {VERSION}" ] && echo {managed}\n')
    assert found(find(tmp_path, path=str(tools))) == str(managed)
    data = tmp_path / "data"
    link(data / "uv" / "python" / f"cpython-{VERSION}.4-linux-x86_64-gnu" / "bin" / f"python{VERSION}")
    assert found(find(tmp_path, XDG_DATA_HOME=str(data))).startswith(str(data / "uv" / "python" / f"cpython-{VERSION}.4"))


def test_a_given_candidate_is_the_only_one_tried(tmp_path):
    real = link(tmp_path / "bin" / f"python{VERSION}")
    broken = shim(tmp_path / "shims", f"python{VERSION}")
    assert found(find(tmp_path, VERSION, "--candidate", str(real))) == str(real)
    done = find(tmp_path, VERSION, "--candidate", str(broken), path=str(real.parent))
    assert done.returncode == 1 and "given:" in done.stderr


# --- the Makefile's leg: skip loudly on a user's machine, fail under CI ----------------------------


def make(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "home").mkdir(exist_ok=True)
    environment = {"HOME": str(tmp_path / "home"), "PATH": system(tmp_path), **env}
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), f"PYTHON={REAL}",
                           f"COMPAT_DIR={tmp_path / 'compat'}", *args], capture_output=True, text=True,
                          env=environment, timeout=120, check=False)


def test_without_the_newest_python_a_users_make_skips_the_leg_loudly(tmp_path):
    skipped = tmp_path / "skipped.txt"
    done = make(tmp_path, "test-compat-newest-python", f"NEWEST_PYTHON={ABSENT}", MAKE_TEST_SKIPPED=str(skipped))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SKIPPED the newest-Python leg (newest Airflow on Python {ABSENT})" in done.stdout
    assert f"no usable Python {ABSENT} found" in done.stderr
    assert skipped.read_text().count("newest-Python leg") == 1
    assert not (tmp_path / "compat").exists()  # nothing was made


@pytest.mark.parametrize("ci", ["true", "True", "1"])
def test_without_the_newest_python_ci_fails_the_leg(tmp_path, ci):
    done = make(tmp_path, "test-compat-newest-python", f"NEWEST_PYTHON={ABSENT}", CI=ci)
    assert done.returncode != 0
    assert f"FAILED: no Python {ABSENT} on this machine, and CI (CI={ci}) requires" in done.stdout


def test_a_given_interpreter_that_does_not_run_fails_even_on_a_users_machine(tmp_path):
    broken = shim(tmp_path / "shims", f"python{VERSION}")
    done = make(tmp_path, "test-compat-newest-python", f"NEWEST_PYTHON={VERSION}", f"COMPAT_NEWEST_PYTHON={broken}")
    assert done.returncode != 0 and f"FAILED: COMPAT_NEWEST_PYTHON={broken}" in done.stdout


def test_the_interpreter_found_makes_the_legs_virtualenv(tmp_path):
    # -n: make prints the virtualenv's commands instead of running them (the $(MAKE) line still runs)
    real = link(tmp_path / "bin" / f"python{VERSION}")
    shims = tmp_path / "shims"
    shim(shims, f"python{VERSION}")
    done = make(tmp_path, "-n", "test-compat-newest-python", f"NEWEST_PYTHON={VERSION}",
                PATH=f"{shims}:{real.parent}:{system(tmp_path)}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"compat: newest Airflow on Python {VERSION} ({real})" in done.stdout  # (said, not only printed)
    assert f"'{real}' -m venv {tmp_path / 'compat'}/newest-python" in done.stdout


# --- scripts/test_all.sh: a skipped leg is named at the end and does not fail the run ----------------


def run_test_all(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/test_all.sh with every step but the compat matrix stubbed out; the matrix runs only the
    real newest-Python leg, asking for a Python no machine has."""
    stubs = tmp_path / "stubs"
    script(stubs / "make", (
        'case "$*" in\n'
        f'  *test-compat*) exec {system(tmp_path)}/make --no-print-directory -C {REPO} PYTHON={REAL} '
        f'COMPAT_DIR={tmp_path / "compat"} NEWEST_PYTHON={ABSENT} test-compat-newest-python;;\n'
        '  *) echo "stub: make $*";;\n'
        'esac\n'
    ))
    (tmp_path / "home").mkdir(exist_ok=True)
    environment = {"HOME": str(tmp_path / "home"), "PATH": f"{stubs}:{system(tmp_path)}", "TMPDIR": str(tmp_path), **env}
    return subprocess.run(["bash", str(REPO / "scripts" / "test_all.sh")], capture_output=True, text=True,
                          env=environment, timeout=120, check=False)


def test_make_test_names_the_skipped_leg_at_the_end_and_passes_on_a_users_machine(tmp_path):
    done = run_test_all(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "=== compat matrix: ok" in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("=== SKIPPED (not run, not failed): the newest-Python leg")
    assert not list(tmp_path.glob("make-test-skipped.*"))  # its note is removed


def test_make_test_fails_under_ci_without_the_newest_python(tmp_path):
    done = run_test_all(tmp_path, CI="true")
    assert done.returncode == 1
    assert "=== compat matrix: FAILED" in done.stdout and "=== failed: compat matrix" in done.stdout
    assert "SKIPPED" not in done.stdout
