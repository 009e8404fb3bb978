"""Evidence-pack files: the manifest, its digest and signature, verification, locking and atomic placement.

``manifest.json`` lists the sha256 and size of every other file of the pack, and carries the **pack digest**: the
sha256 of its own canonical content (every key but ``digest`` and ``signature``). ``verify`` recomputes the file
hashes and the digest and reports changed, missing and extra files.

What each level proves (the README says the same):

* **unsigned manifest, no recorded digest**: the files match the manifest and the manifest is self-consistent.
  This catches accidental damage and a careless edit, but not a forger who edits a file and then recomputes the
  manifest (file hashes and digest are public algorithms). It proves integrity, not origin.
* **recorded digest** (``playbook run`` prints ``pack digest: sha256:...``; keep it in a CI log, a ticket, an
  MLflow tag): ``verify PACK --digest D`` proves the pack is byte for byte the one that was recorded, as far as
  the record itself can be trusted.
* **signature** (``PLAYBOOK_SIGNING_KEY`` set when the pack is built): an HMAC-SHA256 of the digest. ``verify``
  with the same key set proves the pack was built by someone holding the key and not changed since. The key
  never enters the pack, the logs or the notebooks' environment; the manifest carries only a key id (an HMAC of
  a fixed label, so it identifies the key without revealing it).

Building a pack: :func:`acquire_lock` on the pack name (one writer per name), :func:`staging_dir` (a hidden
sibling ``.<name>.partial-<random>`` with an owner record), and :func:`place` (an atomic exchange with an
existing pack). Folders left by runs that died are recognised by name and by the free lock and removed by
:func:`clean_stale` (the next run of the same name, and ``playbook clean``).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
#: Environment variable holding the signing key (any string of at least :data:`MIN_KEY_LENGTH` characters).
SIGNING_KEY_ENV = "PLAYBOOK_SIGNING_KEY"
MIN_KEY_LENGTH = 32
DIGEST_ALGORITHM = "sha256"
SIGNATURE_ALGORITHM = "hmac-sha256"
#: The owner record inside a folder under construction (removed before the manifest is written).
OWNER_FILE = ".playbook-run.json"
#: Free space below which a run refuses to start (a pack of the bundled data takes about 25 MB).
MIN_FREE_BYTES = 200 * 1024 * 1024
_WORK_RE = re.compile(r"^\.(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)\.(?P<kind>partial|old|work)-[A-Za-z0-9_]+$")

# Packages whose versions are recorded in the manifest (what could change a result).
RECORDED_PACKAGES = (
    "readiness-playbook", "evidently", "pandas", "numpy", "scikit-learn", "scipy", "pyarrow", "papermill",
    "nbconvert", "nbformat", "nbclient", "ipykernel", "matplotlib", "fairlearn", "skops", "pyyaml",
)


class PackError(ValueError):
    """A folder that is not a readable evidence pack, or a pack that cannot be built or checked here."""


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


# -- digest and signature -------------------------------------------------------------------------------------
def canonical(manifest: dict) -> bytes:
    """The bytes the digest is computed over: the manifest without ``digest`` and ``signature``, as compact JSON
    with sorted keys."""
    body = {k: v for k, v in manifest.items() if k not in ("digest", "signature")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def manifest_digest(manifest: dict) -> str:
    """``sha256:<hex>`` of :func:`canonical`: the pack digest."""
    return f"{DIGEST_ALGORITHM}:{hashlib.sha256(canonical(manifest)).hexdigest()}"


def normalise_digest(text: str) -> str:
    """``sha256:<hex>`` from a digest given with or without its prefix; raises :class:`PackError` when malformed."""
    t = (text or "").strip().lower()
    if t.startswith(f"{DIGEST_ALGORITHM}:"):
        t = t.split(":", 1)[1]
    if not re.fullmatch(r"[0-9a-f]{64}", t):
        raise PackError(f"--digest {text!r}: not a pack digest; pass the 'sha256:' followed by 64 hex digits that "
                        "`playbook run` printed.")
    return f"{DIGEST_ALGORITHM}:{t}"


def signing_key(environ: dict | None = None) -> bytes | None:
    """The signing key from :data:`SIGNING_KEY_ENV` (None when unset). Raises :class:`PackError` for a key too short
    to be a secret; the message never contains the key."""
    env = os.environ if environ is None else environ
    raw = env.get(SIGNING_KEY_ENV)
    if raw is None or raw == "":
        return None
    if len(raw) < MIN_KEY_LENGTH:
        raise PackError(f"{SIGNING_KEY_ENV}: the key has {len(raw)} characters, fewer than {MIN_KEY_LENGTH}; use a random "
                        "key, e.g. the output of: python -c \"import secrets; print(secrets.token_hex(32))\".")
    return raw.encode("utf-8")


def key_id(key: bytes) -> str:
    """Identifies a key without revealing it: the first 16 hex digits of an HMAC of a fixed label."""
    return hmac.new(key, b"readiness-playbook key id", hashlib.sha256).hexdigest()[:16]


def sign(digest: str, key: bytes) -> dict:
    return {"algorithm": SIGNATURE_ALGORITHM, "key_id": key_id(key),
            "value": hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()}


def write_manifest(root: Path, extra: dict, key: bytes | None = None) -> dict:
    """Hash every file of the pack and write manifest.json (call this last), with its digest and, given a key,
    its signature. Written atomically (a temporary file renamed into place)."""
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
    manifest.pop("digest", None)
    manifest.pop("signature", None)
    digest = manifest_digest(manifest)
    manifest["digest"] = {"algorithm": DIGEST_ALGORITHM, "value": digest,
                          "covers": "the manifest without its digest and signature keys, as compact JSON with sorted keys"}
    if key is not None:
        manifest["signature"] = sign(digest, key)
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, root / MANIFEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


# -- verification ---------------------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    pack: Path
    ok: bool
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    checked: int = 0
    digest: str | None = None            # the digest recomputed from the manifest's content
    digest_ok: bool = True               # the manifest's own digest field matches its content
    expected_digest: str | None = None   # --digest
    signature: str = "none"              # none | valid | invalid | unchecked | missing
    signature_key_id: str | None = None
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.ok:
            out.append(f"intact: {self.checked} files match the manifest of {self.pack}")
        else:
            out.append(f"NOT intact: {self.pack}")
        out += [f"changed: {f}" for f in self.changed]
        out += [f"missing: {f}" for f in self.missing]
        out += [f"extra: {f}" for f in self.extra]
        out += self.problems
        if self.digest:
            out.append(f"pack digest: {self.digest}")
        if self.expected_digest and self.digest == self.expected_digest and self.digest_ok:
            out.append("digest: matches the recorded digest (the pack is the one that was recorded)")
        if self.signature == "valid":
            out.append(f"signature: valid ({SIGNATURE_ALGORITHM}, key id {self.signature_key_id}): built by a holder of "
                       "this key and unchanged since")
        elif self.signature == "unchecked":
            out.append(f"signature: present ({SIGNATURE_ALGORITHM}, key id {self.signature_key_id}) but not checked; "
                       f"set {SIGNING_KEY_ENV} to the signing key to check it")
        elif self.signature == "none" and self.ok and not self.expected_digest:
            out.append("unsigned, no recorded digest given: this proves the files match the manifest, not who made "
                       "them; pass --digest or sign packs to detect a rewritten manifest")
        return out


def work_folder(path: Path) -> re.Match | None:
    """The name match when ``path`` is a build folder (``.<name>.partial-*`` or ``.<name>.old-*``) or a run's working
    folder (``.<name>.work-*``, :mod:`playbook.preflight`), else None."""
    return _WORK_RE.match(Path(path).name)


def verify(pack: str | Path, digest: str | None = None, key: bytes | None = None, check_signature: bool = True) -> VerifyReport:
    """Recompute every file hash and the manifest digest of a pack.

    ``digest``: a digest recorded elsewhere (``sha256:...``) the pack must match. ``key``: the signing key (default:
    :data:`SIGNING_KEY_ENV` when ``check_signature``); with a key, a pack must carry a valid signature."""
    root = Path(pack)
    if not root.is_dir():
        raise PackError(f"{pack}: no such pack folder; pass the folder that holds manifest.json.")
    m = work_folder(root)
    if m or (root / OWNER_FILE).exists():
        what = "a pack being built" if m is None or m.group("kind") == "partial" else "a replaced pack being removed"
        raise PackError(f"{pack}: is the working folder of a playbook run ({what}), not a finished pack; run "
                        f"`playbook clean {root.parent}` to remove the folders of runs that died.")
    expected = normalise_digest(digest) if digest else None
    if key is None and check_signature:
        key = signing_key()
    mpath = root / MANIFEST
    if not mpath.exists():
        raise PackError(f"{pack}: has no manifest.json, so it is not a complete evidence pack (it may be unfinished).")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise PackError(f"{mpath}: is not a readable manifest; the pack has been damaged.") from None
    present = set(list_files(root))
    changed, missing = [], []
    for rel, meta in sorted(files.items()):
        p = root / rel
        if rel not in present:
            missing.append(rel)
        elif not isinstance(meta, dict) or p.stat().st_size != meta.get("bytes") or sha256_file(p) != meta.get("sha256"):
            changed.append(rel)
    extra = sorted(present - set(files))
    rep = VerifyReport(root, False, changed, missing, extra, checked=len(files), expected_digest=expected)
    rep.digest = manifest_digest(manifest)
    recorded = manifest.get("digest")
    if recorded is None:
        rep.problems.append("manifest: carries no digest of its own content (written by an older playbook); its "
                            "integrity cannot be checked beyond the file hashes")
        rep.digest_ok = manifest.get("manifest_version", 1) < 2
    elif not isinstance(recorded, dict) or recorded.get("value") != rep.digest:
        rep.digest_ok = False
        rep.problems.append("manifest: its digest does not match its content: the manifest was edited after it was "
                            "written")
    if expected and rep.digest != expected:
        rep.problems.append(f"digest: the pack's digest {rep.digest} differs from the recorded {expected}: this is not "
                            "the pack that was recorded")
    sig = manifest.get("signature")
    if isinstance(sig, dict):
        rep.signature_key_id = sig.get("key_id")
        if key is None:
            rep.signature = "unchecked"
        elif sig.get("algorithm") != SIGNATURE_ALGORITHM:
            rep.signature = "invalid"
            rep.problems.append(f"signature: algorithm {sig.get('algorithm')!r} is not {SIGNATURE_ALGORITHM}")
        elif sig.get("key_id") != key_id(key):
            rep.signature = "invalid"
            rep.problems.append(f"signature: made with another key (key id {sig.get('key_id')}, yours is {key_id(key)})")
        elif not hmac.compare_digest(str(sig.get("value", "")), sign(rep.digest, key)["value"]):
            rep.signature = "invalid"
            rep.problems.append("signature: does not match the manifest: the pack was changed after it was signed")
        else:
            rep.signature = "valid"
    elif key is not None:
        rep.signature = "missing"
        rep.problems.append(f"signature: the pack is not signed, so it cannot be authenticated with {SIGNING_KEY_ENV}")
    rep.ok = not (changed or missing or extra) and rep.digest_ok and not (expected and rep.digest != expected) \
        and rep.signature in ("none", "valid", "unchecked")
    return rep


def require_verified(pack: str | Path, digest: str | None = None, *, purpose: str,
                     error: type[Exception] = PackError, subject: str | None = None,
                     check_signature: bool = True) -> VerifyReport:
    """:func:`verify` a finished pack that a command is about to read, or refuse it with one sentence.

    The sentence starts with ``subject`` (default: the pack folder), says what differs (up to three files or
    problems), names ``playbook verify <pack>`` and ends with ``purpose``: what to do instead (e.g. "serve an
    untouched pack"). It is raised as ``error`` (the caller's own type, which its command maps to exit 2), and so is
    the :class:`PackError` of a folder that is no finished pack. Returns the report of a pack that verifies."""
    root = Path(pack)
    try:
        rep = verify(root, digest=digest, check_signature=check_signature)
    except PackError as exc:
        if error is PackError:
            raise
        raise error(str(exc)) from None
    if rep.ok:
        return rep
    files = [f"{f} changed" for f in rep.changed] + [f"{f} missing" for f in rep.missing] \
        + [f"{f} extra" for f in rep.extra]
    shown = (files + rep.problems)[:3]
    more = len(files) + len(rep.problems) - len(shown)
    what = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    # a file that differs: the pack was changed after it was built; else a problem of the manifest or the digest
    why = f"it does not match its manifest ({what})" if files else (what or "its digest does not match")
    raise error(f"{subject or root}: the pack does not verify: {why}; run `playbook verify {root}` to see what "
                f"changed, and {purpose}.")


def read_digest(pack: Path) -> str | None:
    """The digest recorded in a pack's manifest (None when unreadable)."""
    try:
        d = json.loads((Path(pack) / MANIFEST).read_text(encoding="utf-8")).get("digest") or {}
        return d.get("value")
    except (OSError, ValueError, AttributeError):
        return None


# -- the pack name lock ---------------------------------------------------------------------------------------
def lock_path(final: Path) -> Path:
    return final.parent / f".{final.name}.lock"


def _process_start(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (Linux), to tell a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_record() -> dict:
    return {"pid": os.getpid(), "process_start": _process_start(os.getpid()), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _read_owner(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def owner_alive(owner: dict) -> bool:
    """Whether the process an owner record names still runs (same host, same pid, same start time)."""
    if not owner or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    start = _process_start(pid)
    return start is not None and (owner.get("process_start") in (None, start))


class PackLock:
    """An exclusive ``flock`` on ``.<name>.lock`` next to the pack folder. The kernel releases it when the holder
    dies, however it dies, so a lock is never stale."""

    def __init__(self, final: Path):
        self.final = final
        self.path = lock_path(final)
        self.fd: int | None = None

    def acquire(self) -> "PackLock":
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    owner = _read_owner(self.path)
                    who = f" (pid {owner['pid']}, started {owner.get('started')})" if owner.get("pid") else ""
                    raise PackError(f"{self.final}: another playbook run is writing this pack{who}; wait for it to "
                                    "finish, or choose another --name or --out.") from None
                raise
            try:  # the file may have been removed by the previous holder between our open and our lock
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(owner_record()) + "\n").encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "PackLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(final: Path) -> bool:
    """Whether a live run holds the lock of this pack name."""
    import fcntl

    p = lock_path(final)
    if not p.exists():
        return False
    try:
        fd = os.open(p, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


# -- building, placing, cleaning ------------------------------------------------------------------------------
def check_writable(folder: Path, min_free: int = MIN_FREE_BYTES) -> None:
    """Create ``folder`` if needed and prove it takes a file; refuse when free space is below ``min_free``.
    Raises :class:`PackError` naming the folder and the fix."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".playbook-write-test-", dir=folder)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise PackError(f"--out {folder}: cannot write there ({exc.strerror or exc}); choose a writable folder with "
                        "--out.") from None
    free = shutil.disk_usage(folder).free
    if free < min_free:
        raise PackError(f"--out {folder}: only {free / 2 ** 20:.0f} MB free on that disk, less than the "
                        f"{min_free / 2 ** 20:.0f} MB a pack may need; free some space or choose another --out.")


def staging_dir(final: Path) -> Path:
    """A fresh hidden sibling folder in which the pack is built, holding an owner record (pid, process start)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    (d / OWNER_FILE).write_text(json.dumps(owner_record()) + "\n", encoding="utf-8")
    return d


def seal(staging: Path) -> None:
    """Remove the owner record (call before the manifest is written)."""
    (staging / OWNER_FILE).unlink(missing_ok=True)


def remove_tree(path: Path) -> None:
    """Remove a folder, its manifest first, so a half-removed folder never looks like a pack."""
    (path / MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False when the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(str(a)), at_fdcwd, os.fsencode(str(b)), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def place(staging: Path, final: Path, force: bool) -> None:
    """Move a complete pack into place. An existing pack is replaced only with ``force``, and only after the new
    one is complete: both are swapped in one atomic exchange (the old one is then removed), so a run killed at any
    moment leaves either the old pack or the new one at ``final``, never neither or a mix."""
    if final.exists():
        if not force:
            raise FileExistsError(final)
        if _exchange(staging, final):
            remove_tree(staging)  # now holds the old pack
            return
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, trash / final.name)
        try:
            os.replace(staging, final)
        except OSError:
            os.replace(trash / final.name, final)
            raise
        remove_tree(trash)
    else:
        os.replace(staging, final)


@dataclass
class CleanReport:
    removed: list[Path] = field(default_factory=list)
    restored: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)


def clean_stale(folder: Path, name: str | None = None, *, holding_lock: bool = False) -> CleanReport:
    """Remove the build folders (``.<name>.partial-*``, ``.<name>.old-*``) of runs that died, in ``folder``.

    A folder belongs to a live run when that name's lock is held (and its owner record names a live process);
    those are kept. ``name`` limits the cleaning to one pack name; ``holding_lock`` says the caller holds that
    name's lock (so every build folder of the name is stale). A replaced pack left in ``.<name>.old-*`` by a run
    killed mid-swap is moved back when ``<name>`` itself is missing."""
    rep = CleanReport()
    if not folder.is_dir():
        return rep
    for d in sorted(folder.iterdir()):
        m = work_folder(d)
        if not m or not d.is_dir() or d.is_symlink():
            continue
        pname = m.group("name")
        if name is not None and pname != name:
            continue
        final = folder / pname
        live = False
        if not (holding_lock and pname == name):
            owner = _read_owner(d / OWNER_FILE)
            live = is_locked(final) or owner_alive(owner) and owner.get("pid") != os.getpid()
        if live:
            rep.kept.append((d, "a run of this pack name is still writing it"))
            continue
        if m.group("kind") == "old" and not final.exists() and (d / pname / MANIFEST).exists():
            os.replace(d / pname, final)
            rep.restored.append(final)
        remove_tree(d)
        rep.removed.append(d)
    if not holding_lock:  # lock files of names nobody holds: take the lock, then release it (which removes the file)
        for f in sorted(folder.glob(".*.lock")):
            pname = f.name[1:-len(".lock")]
            if (name is not None and pname != name) or not f.is_file():
                continue
            try:
                PackLock(folder / pname).acquire().release()
            except (PackError, OSError):
                continue
            rep.removed.append(f)
    return rep
