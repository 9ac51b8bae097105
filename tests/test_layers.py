"""The package's layers hold: models/ imports nothing above it, its modules import only
from layers below (pyproject.toml [tool.importlinter]), and no import cycle remains."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_models_module_is_in_a_layer() -> None:
    """A new module of models/ must be given its place in the layers contract."""
    config = (ROOT / "pyproject.toml").read_text()
    layers = config.split('containers = ["classbridge.models"]')[1].split("]")[0]
    named = {part.strip().strip('",') for part in layers.replace("|", "\n").splitlines()}
    models = ROOT / "classbridge" / "models"
    modules = {p.stem for p in models.glob("*.py") if p.stem != "__init__"}
    packages = {p.name for p in models.iterdir() if (p / "__init__.py").exists()}
    missing = (modules | packages) - named
    assert not missing, f"add these to the layers contract in pyproject.toml: {missing}"
