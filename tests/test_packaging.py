"""The wheel carries what an installed `classbridge` needs besides code: the vendored
GraphiQL assets (so /graphql works offline) and the migrations."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "classbridge"


def test_the_wheel_ships_graphiql_and_the_migrations(tmp_path: Path) -> None:
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path)]
    subprocess.run(
        [sys.executable, "-m", "pip", *build, str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("classbridge-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = [
        path
        for folder in ("graph/static", "migrations")
        for path in (PACKAGE / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert any(p.name == "graphiql.min.js" for p in wanted)
    missing = [str(p.relative_to(ROOT)) for p in wanted if str(p.relative_to(ROOT)) not in shipped]
    assert missing == []
