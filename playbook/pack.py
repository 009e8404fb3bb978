"""Evidence-pack files: the manifest (hash of every file), verification, and atomic placement.

``manifest.json`` lists the sha256 and size of every other file of the pack; ``verify`` recomputes
them and reports changed, missing and extra files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1

# Packages whose versions are recorded in the manifest (what could change a result).
RECORDED_PACKAGES = (
    "readiness-playbook", "evidently", "pandas", "numpy", "scikit-learn", "scipy", "pyarrow", "papermill",
    "nbconvert", "nbformat", "nbclient", "ipykernel", "matplotlib", "fairlearn", "skops", "pyyaml",
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def list_files(root: Path) -> list[str]:
    """Every regular file below root (posix relative paths, sorted), except the manifest."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in filenames:
            rel = (Path(dirpath) / f).relative_to(root).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def package_versions() -> dict[str, str]:
    out = {}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit(path: Path) -> str | None:
    """The commit of the git checkout holding ``path`` (None outside git), with ``+dirty`` if modified."""
    try:
        head = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_manifest(root: Path, extra: dict) -> dict:
    """Hash every file of the pack and write manifest.json (call this last)."""
    files = {}
    for rel in list_files(root):
        p = root / rel
        files[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "files": files,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        **extra,
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (root / MANIFEST).write_text(text, encoding="utf-8")
    return manifest


@dataclass
class VerifyReport:
    pack: Path
    ok: bool
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    checked: int = 0

    def lines(self) -> list[str]:
        if self.ok:
            return [f"intact: {self.checked} files match the manifest of {self.pack}"]
        out = [f"NOT intact: {self.pack}"]
        out += [f"changed: {f}" for f in self.changed]
        out += [f"missing: {f}" for f in self.missing]
        out += [f"extra: {f}" for f in self.extra]
        return out


class PackError(ValueError):
    """A folder that is not a readable evidence pack."""


def verify(pack: str | Path) -> VerifyReport:
    root = Path(pack)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise PackError(f"{pack}: no such pack folder; pass the folder that holds manifest.json.")
    if not mpath.exists():
        raise PackError(f"{pack}: has no manifest.json, so it is not a complete evidence pack (it may be unfinished).")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise PackError(f"{mpath}: is not a readable manifest; the pack has been damaged.") from None
    present = set(list_files(root))
    changed, missing = [], []
    for rel, meta in sorted(files.items()):
        p = root / rel
        if rel not in present:
            missing.append(rel)
        elif p.stat().st_size != meta.get("bytes") or sha256_file(p) != meta.get("sha256"):
            changed.append(rel)
    extra = sorted(present - set(files))
    ok = not (changed or missing or extra)
    return VerifyReport(root, ok, changed, missing, extra, checked=len(files))


def staging_dir(final: Path) -> Path:
    """A fresh temporary sibling folder in which the pack is built."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))


def place(staging: Path, final: Path, force: bool) -> None:
    """Move a complete pack into place. An existing pack is replaced only with ``force``, and only
    after the new one is complete (the old one is removed after the rename succeeded)."""
    if final.exists():
        if not force:
            raise FileExistsError(final)
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, trash / final.name)
        try:
            os.replace(staging, final)
        except OSError:
            os.replace(trash / final.name, final)
            raise
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, final)
