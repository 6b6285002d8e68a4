"""Re-create the vendored front-end files from the npm registry, at pinned versions.

Two folders are written, each from its own pinned list:

* ``geo311/site/vendor/`` (:data:`PACKAGES`): the maps in geo311 must open
  offline (council offices double-click an emailed file, sometimes behind
  networks that block CDNs), so the few front-end files they need are shipped
  inside the package;
* ``tests/vendor/`` (:data:`TEST_PACKAGES`): axe-core, the accessibility
  checker the browser tests inject into every page; it is never shipped.

This script is the only way these folders are written:

* ``npm pack <package>@<version>`` downloads each pinned tarball (npm checks
  the registry's integrity hash);
* the script checks the tarball's SHA-512 against the integrity npm reports,
  extracts only the files listed in :data:`PACKAGES` plus the licence, and
* writes ``VERSIONS.json`` in each folder (package, version, tarball integrity
  and SHA-1, and every file with its SHA-256 and size).

Run it from the repository root::

    python scripts/vendor_assets.py          # refuses to replace an existing folder
    python scripts/vendor_assets.py --overwrite
    python scripts/vendor_assets.py --folder tests --overwrite   # only tests/vendor/

To update a package, change its pinned version below and run the script with
``--overwrite``; commit the folder and its ``VERSIONS.json`` together.

The output depends only on the pinned versions, so running it twice gives the
same files and the same ``VERSIONS.json``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO / "geo311" / "site" / "vendor"
TEST_VENDOR = REPO / "tests" / "vendor"

#: package -> (pinned version, files to keep relative to the package root).
#: Leaflet's marker images are left out: geo311 maps draw no markers.
PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "leaflet": (
        "1.9.4",
        (
            "dist/leaflet.js",
            "dist/leaflet.css",
            "dist/images/layers.png",
            "dist/images/layers-2x.png",
        ),
    ),
    # the full-screen control folium.plugins.Fullscreen wraps (same version as folium 0.20)
    "leaflet.fullscreen": (
        "3.0.0",
        ("Control.FullScreen.js", "Control.FullScreen.css", "icon-fullscreen.svg"),
    ),
}
#: Files the tests use and the package never ships (same shape as :data:`PACKAGES`).
TEST_PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "axe-core": ("4.14.1", ("axe.min.js",)),
}
#: Folder name given to ``--folder`` -> (folder, its pinned packages).
FOLDERS = {"site": (VENDOR, PACKAGES), "tests": (TEST_VENDOR, TEST_PACKAGES)}
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(spec: str, dest: Path) -> dict[str, str]:
    """Run ``npm pack spec`` into ``dest``; return npm's report (filename, integrity, shasum)."""
    proc = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(proc.stdout)[0]
    return {k: report[k] for k in ("filename", "integrity", "shasum")}


def _check_integrity(tarball: Path, integrity: str) -> None:
    algo, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        msg = f"{tarball.name}: {algo} {digest} does not match the registry's {expected}"
        raise SystemExit(msg)


def vendor_package(
    name: str, version: str, keep: tuple[str, ...], work: Path, *, vendor: Path = VENDOR
) -> dict:
    """Download one package and copy the kept files and licence under ``vendor/name``."""
    report = npm_pack(f"{name}@{version}", work)
    tarball = work / report["filename"]
    _check_integrity(tarball, report["integrity"])
    out_dir = vendor / name
    files = []
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name.removeprefix("package/"): m for m in tar.getmembers() if m.isfile()}
        licences = [n for n in LICENSE_NAMES if n in members]
        if not licences:
            msg = f"{name}@{version}: no licence file in the tarball"
            raise SystemExit(msg)
        for rel in (*keep, licences[0]):
            member = members.get(rel)
            if member is None:
                msg = f"{name}@{version}: {rel} not in the tarball"
                raise SystemExit(msg)
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            # flatten dist/ (leaflet/dist/leaflet.js -> leaflet/leaflet.js), keep images/
            target = out_dir / rel.removeprefix("dist/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            files.append(
                {
                    "path": target.relative_to(vendor).as_posix(),
                    "source": rel,
                    "sha256": _sha256(data),
                    "bytes": len(data),
                }
            )
    return {
        "package": name,
        "version": version,
        "tarball": report["filename"],
        "integrity": report["integrity"],
        "shasum": report["shasum"],
        "license_file": f"{name}/{licences[0]}",
        "files": files,
    }


def vendor_folder(vendor: Path, packages: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    """Fill the (new, empty) folder ``vendor`` with ``packages`` and its ``VERSIONS.json``."""
    vendor.mkdir(parents=True)
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (version, keep) in packages.items():
            entries.append(vendor_package(name, version, keep, Path(tmp), vendor=vendor))
            print(f"vendored {name}@{version} into {vendor.relative_to(REPO)}")
    versions = {
        "generated_by": "scripts/vendor_assets.py",
        "registry": "https://registry.npmjs.org/",
        "packages": entries,
    }
    (vendor / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overwrite", action="store_true", help="replace the folders")
    parser.add_argument(
        "--folder",
        choices=sorted(FOLDERS),
        action="append",
        help="only this folder: site (geo311/site/vendor) or tests (tests/vendor); repeatable",
    )
    args = parser.parse_args(argv)
    chosen = [FOLDERS[name] for name in (args.folder or FOLDERS)]
    existing = [vendor for vendor, _ in chosen if vendor.exists()]
    if existing and not args.overwrite:
        names = ", ".join(str(v.relative_to(REPO)) for v in existing)
        print(f"{names} exist(s); pass --overwrite to re-create", file=sys.stderr)
        return 1
    for vendor, packages in chosen:
        if vendor.exists():
            shutil.rmtree(vendor)
        vendor_folder(vendor, packages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
