"""Vendor the assets of strawberry's GraphiQL page, so /graphql works without internet.

    .venv/bin/python scripts/vendor-graphiql.py

Reads the page of the installed strawberry-graphql, fetches every package it loads from
the CDN with `npm pack` (the npm registry), checks each file against the page's own
Subresource Integrity hash, and copies the files with their packages' licenses into
classbridge/graph/static/graphiql/<package>@<version>/, writing VERSIONS.md beside them.
Run it again after upgrading strawberry-graphql; tests/graph/test_graphiql.py fails until
the assets match the installed page.
"""

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classbridge.graph.graphiql import STATIC_DIR, cdn_assets, strawberry_page  # noqa: E402

LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license")


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def split_spec(path: str) -> tuple[str, str, str]:
    """'@graphiql/plugin-explorer@1.0.2/dist/style.css' -> (name, version, file)."""
    scope = ""
    if path.startswith("@"):
        scope, path = path.split("/", 1)
        scope += "/"
    spec, file = path.split("/", 1)
    name, version = spec.rsplit("@", 1)
    return scope + name, version, file


def main() -> None:
    assets = cdn_assets(strawberry_page())
    packages: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for asset in assets:
        name, version, file = split_spec(asset.path)
        packages.setdefault((name, version), []).append((file, asset.integrity))
    staging = Path(tempfile.mkdtemp(prefix="graphiql-"))
    out = staging / "out"
    rows = []
    try:
        for (name, version), files in sorted(packages.items()):
            packed = subprocess.run(
                ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(staging)],
                check=True,
                capture_output=True,
                text=True,
            )
            tarball = staging / json.loads(packed.stdout)[0]["filename"]
            unpacked = staging / f"{tarball.stem}-unpacked"
            with tarfile.open(tarball) as tar:
                tar.extractall(unpacked, filter="data")
            package = unpacked / "package"
            meta = json.loads((package / "package.json").read_text())
            target = out / f"{name}@{version}"
            for file, integrity in files:
                source = package / file
                if integrity and sri(source) != integrity:
                    raise SystemExit(f"{name}@{version}/{file}: integrity mismatch, not vendored")
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / file)
                rows.append((name, version, meta.get("license", "?"), file, sri(source)))
            licenses = [package / n for n in LICENSE_NAMES if (package / n).exists()]
            if licenses:
                shutil.copyfile(licenses[0], target / "LICENSE")
            elif meta.get("license"):  # e.g. @graphiql/plugin-explorer: declared, no text
                repo = meta.get("repository", {})
                url = repo.get("url", repo) if isinstance(repo, dict) else repo
                (target / "LICENSE").write_text(
                    f"{name}@{version} declares the license {meta['license']} in its "
                    f"package.json and ships no license text.\nSource: {url}\n"
                )
            else:
                raise SystemExit(f"{name}@{version} declares no license")
        lines = [
            "# Vendored GraphiQL assets",
            "",
            "Written by `scripts/vendor-graphiql.py` from the npm registry (`npm pack`), for the",
            "GraphiQL page of the installed strawberry-graphql; every file matches the page's",
            "Subresource Integrity hash. Each package's license is in its folder as LICENSE",
            "(graphiql.min.js bundles its own dependencies under the same terms as graphiql).",
            "",
            "| package | version | license | file | sha384 |",
            "| --- | --- | --- | --- | --- |",
            *(f"| {n} | {v} | {lic} | {f} | `{h}` |" for n, v, lic, f, h in rows),
            "",
        ]
        (out / "VERSIONS.md").write_text("\n".join(lines))
        shutil.rmtree(STATIC_DIR, ignore_errors=True)
        shutil.copytree(out, STATIC_DIR)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"vendored {len(rows)} files of {len(packages)} packages into {STATIC_DIR}")


if __name__ == "__main__":
    main()
