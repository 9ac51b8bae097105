"""The lock files agree with pyproject.toml, and the suite runs on the locked versions.

requirements.lock pins what `classbridge` needs (and its build backend), each version with
its hashes; requirements-test.lock pins the same versions plus the test extras. When
pyproject.toml's dependencies change, these tests fail until `bash scripts/lock.sh` runs.
"""

import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REFRESH = "refresh the locks: bash scripts/lock.sh"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?:\s*\\)?$")
DIRECT = "classbridge (pyproject.toml)"


@dataclass
class Pin:
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(path: Path) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        match = _PIN.match(raw)
        if match:
            current = pins[canonicalize_name(match[1])] = Pin(match[2])
        elif current is not None and line.startswith("--hash="):
            current.hashes.append(line.removeprefix("--hash=").rstrip(" \\"))
        elif current is not None and line.startswith("#"):
            text = line.lstrip("#").strip().removeprefix("via").strip()
            if text:
                current.via.append(text)
    return pins


def project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def wanted(*, test: bool) -> list[Requirement]:
    data = project()
    names = [*data["project"]["dependencies"], *data["build-system"]["requires"]]
    if test:
        names += data["project"]["optional-dependencies"]["test"]
    return [Requirement(n) for n in names]


def problems(lock: Path, requirements: list[Requirement]) -> list[str]:
    pins = read_lock(lock)
    found = []
    direct = set()
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        direct.add(name)
        pin = pins.get(name)
        if pin is None:
            found.append(f"{req} is not pinned")
        elif not req.specifier.contains(pin.version, prereleases=True):
            found.append(f"{req} does not allow the pinned {name}=={pin.version}")
        elif req.extras:
            found += _missing_extras(req, pin, pins)
    for pinned, pin in pins.items():
        if not pin.hashes:
            found.append(f"{pinned}=={pin.version} has no hash")
        if DIRECT in pin.via and pinned not in direct:
            found.append(f"{pinned} is pinned as a dependency that pyproject.toml no longer has")
    return found


def _missing_extras(req: Requirement, pin: Pin, pins: dict[str, Pin]) -> list[str]:
    """What an extra (uvicorn[standard]) pulls in must be pinned too, as far as the
    installed distribution of the pinned version tells."""
    try:
        dist = metadata.distribution(req.name)
    except metadata.PackageNotFoundError:
        return []
    if dist.version != pin.version:
        return []
    missing = []
    for text in dist.requires or []:
        extra_req = Requirement(text)
        marker = extra_req.marker
        if marker is None or not any(marker.evaluate({"extra": e}) for e in req.extras):
            continue
        if marker.evaluate({"extra": ""}):  # not extra-specific: a plain dependency
            continue
        if canonicalize_name(extra_req.name) not in pins:
            missing.append(f"{extra_req.name} (for {req}) is not pinned")
    return missing


@pytest.mark.parametrize(
    ("lock", "test"), [("requirements.lock", False), ("requirements-test.lock", True)]
)
def test_the_lock_agrees_with_pyproject(lock: str, test: bool) -> None:
    found = problems(ROOT / lock, wanted(test=test))
    assert not found, f"{lock} disagrees with pyproject.toml: " + "; ".join(found) + f" — {REFRESH}"


def test_the_test_lock_pins_what_production_runs() -> None:
    production = read_lock(ROOT / "requirements.lock")
    tests = read_lock(ROOT / "requirements-test.lock")
    differ = [
        f"{name} {pin.version} vs {tests[name].version if name in tests else 'missing'}"
        for name, pin in production.items()
        if name not in tests or tests[name].version != pin.version
    ]
    assert not differ, (
        "requirements-test.lock differs from requirements.lock: "
        + ", ".join(differ)
        + f" — {REFRESH}"
    )


def test_the_suite_runs_on_the_locked_versions() -> None:
    """scripts/test.sh installs from requirements-test.lock; a package at another version
    means this environment was installed some other way (or the lock moved since)."""
    differ = []
    for name, pin in read_lock(ROOT / "requirements-test.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pin.version:
            differ.append(f"{name} {installed} (locked {pin.version})")
    assert not differ, (
        "installed versions differ from requirements-test.lock: "
        + ", ".join(differ)
        + " — install with bash scripts/test.sh (or refresh the locks: bash scripts/lock.sh)"
    )


def test_the_version_lives_in_pyproject_alone() -> None:
    version = project()["project"]["version"]
    assert metadata.version("classbridge") == version
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()
    stray = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "classbridge").rglob("*.py")
        if re.search(r"^__version__\s*=\s*['\"]", path.read_text(), re.MULTILINE)
    ]
    assert not stray, f"a second copy of the version: {stray}"


def test_drift_is_found(tmp_path: Path) -> None:
    """The check itself: a new dependency, a narrowed one and a dropped one are named."""
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "httpx==0.28.1 \\\n    --hash=sha256:aa\n    # via classbridge (pyproject.toml)\n"
        "oldthing==1.0 \\\n    --hash=sha256:bb\n    # via classbridge (pyproject.toml)\n"
        "nohash==1.0\n    # via httpx\n"
    )
    found = problems(lock, [Requirement("httpx>=0.29"), Requirement("limits>=3")])
    assert found == [
        "httpx>=0.29 does not allow the pinned httpx==0.28.1",
        "limits>=3 is not pinned",
        "oldthing is pinned as a dependency that pyproject.toml no longer has",
        "nohash==1.0 has no hash",
    ]
