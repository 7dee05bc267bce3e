"""Installing the project prints no warning (issue #11: a user's first command should not start
with setuptools' complaints). Installs the checkout editable, as scripts/bootstrap.sh does, into
a fresh virtualenv with the newest pip and setuptools the registry serves."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_the_editable_install_prints_no_warning(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--upgrade-deps", str(venv)], check=True, capture_output=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    # --no-deps: the project's own build is what is judged; its dependencies are installed as in bootstrap.sh.
    done = subprocess.run([*pip, "install", "--quiet", "--no-deps", "-e", str(ROOT)], capture_output=True, text=True,
                          timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "warning" not in output.lower(), output
    pth = list((venv / "lib").glob("python3*/site-packages/__editable__.mssql_starrocks-*.pth"))
    assert pth and pth[0].read_text().strip() == str(ROOT), pth
