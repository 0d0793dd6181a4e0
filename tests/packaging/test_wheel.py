"""A wheel built from the checkout serves the site when installed (not editable) elsewhere.

The wheel is installed into a fresh virtualenv whose only other path is the project venv's
site-packages (for the dependencies; a ``.pth`` line there runs no editable finder), and
``wendelin run`` is started from an empty directory: templates, skins and instance templates
must all come from the installed package.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import requests
from Products.Wendelin.processes import READY, ProcessOutput

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "wheel-secret"


def _checkout_files() -> list[str]:
    """The files a clone has, plus uncommitted ones not ignored (what a commit would ship)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode()
    return [name for name in listing.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the project's wheel from a copy of the checkout (so the tree stays clean).

    With build isolation, as ``pip install .`` does: pip fetches the build backend that
    pyproject names from its configured index (or its cache).
    """
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    for name in _checkout_files():
        if name.startswith("tests/"):
            continue
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(base / "dist"),
         str(source)],
        capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = (base / "dist").glob("wendelin-*.whl")
    return found


def test_wheel_carries_every_module_and_the_data(wheel: Path) -> None:
    """Every Python file of the packages, bt5/ and the instance templates are in the wheel."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "Products/Wendelin/" + str(path.relative_to(REPO / "product" / "Wendelin"))
        for path in (REPO / "product" / "Wendelin").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    expected |= {"erp5_kernel/" + path.name for path in (REPO / "erp5_kernel").glob("*.py")}
    expected |= {
        "Products/Wendelin/_data/" + name
        for name in _checkout_files()
        if name.startswith("bt5/")
        or (name.startswith("instance/") and name.endswith((".in", ".zcml")))
    }
    assert expected - names == set()
    assert not [name for name in names if "/instance/var/" in name or "__pycache__" in name]


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A venv with the wheel installed and the project venv's packages as dependencies."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "project_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    # --ignore-installed: the project's own editable wendelin is visible; never touch it.
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--ignore-installed", str(wheel)],
        capture_output=True, text=True,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return root


def test_installed_wheel_serves_the_site_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    """``wendelin run`` of the installed wheel, in an empty directory, serves /erp5."""
    venv = _fresh_venv(tmp_path / "venv", wheel)
    workdir = tmp_path / "anywhere"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("WENDELIN_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(WENDELIN_PORT="0", WENDELIN_ADMIN_PASSWORD=PASSWORD, WENDELIN_JUPYTER="0",
               WENDELIN_CELL_WORKERS="0")
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from Products.Wendelin import settings; from Products.Wendelin.site import "
         "business_template as bt; print(settings.__file__); print(settings.from_checkout()); "
         "print(bt.bt5_root())"],
        cwd=workdir, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()
    package = venv.resolve()
    assert Path(where[0]).resolve().is_relative_to(package), where
    assert where[1] == "False"
    assert Path(where[2]).is_relative_to(package), where

    process = subprocess.Popen(
        [str(venv / "bin" / "wendelin"), "run"], cwd=workdir, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    try:
        reader = ProcessOutput(process, output)
        started = reader.read_until(lambda line: line.startswith(READY), 120)
        assert started, "server did not start:\n" + "".join(output)
        url = output[-1].split(" at ", 1)[1].strip()
        reader.drain()
        assert requests.get(url).status_code == 401
        page = requests.get(url, auth=("zope", PASSWORD))
        assert page.status_code == 200, page.text
        assert (workdir / "wendelin-instance" / "etc" / "zope.conf").is_file()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
