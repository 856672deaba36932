"""The one distribution carries every subpackage of its three import packages (found, not listed)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = {
    "pytest_execserver": ROOT,
    "execserver_ref": ROOT / "server",
    "pytoxiproxy": ROOT / "toxiproxy",
}


def _source_packages() -> set[str]:
    found: set[str] = set()
    for package, where in PACKAGE_ROOTS.items():
        for init in (where / package).rglob("__init__.py"):
            found.add(init.parent.relative_to(where).as_posix())
    return found


def test_wheel_contains_every_subpackage_and_marker(tmp_path: Path) -> None:
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run(
        [*pip_wheel, "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("pytest_execserver-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    in_wheel = {name.rpartition("/")[0] for name in names if name.endswith("/__init__.py")}
    expected = _source_packages()
    assert len(expected) >= 6
    assert expected - in_wheel == set(), f"subpackages missing from the wheel: {sorted(expected - in_wheel)}"
    for package in PACKAGE_ROOTS:
        assert f"{package}/py.typed" in names
    assert any(name.endswith("entry_points.txt") for name in names)
