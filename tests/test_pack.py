import hashlib
import json
import os
import subprocess
import sys

import pytest

from playbook import pack as P
from playbook.pack import PackError, place, staging_dir, verify, write_manifest

KEY = "k" * 16 + "0123456789abcdef0123"  # 36 characters


def make_pack(root):
    (root / "steps" / "01_x").mkdir(parents=True)
    (root / "steps" / "01_x" / "results.json").write_text("{}")
    (root / "summary.json").write_text('{"verdict": "go"}')
    write_manifest(root, {"pack": "t"})
    return root


def test_manifest_and_verify(tmp_path):
    pack = make_pack(tmp_path / "p")
    m = json.loads((pack / "manifest.json").read_text())
    assert sorted(m["files"]) == ["steps/01_x/results.json", "summary.json"]
    assert m["packages"]["pandas"] and m["python"].startswith("3.")
    assert verify(pack).ok
    (pack / "summary.json").write_text('{"verdict": "no-go"}')
    (pack / "new.txt").write_text("x")
    (pack / "steps" / "01_x" / "results.json").unlink()
    rep = verify(pack)
    assert not rep.ok
    assert rep.changed == ["summary.json"] and rep.extra == ["new.txt"] and rep.missing == ["steps/01_x/results.json"]
    assert "changed: summary.json" in rep.lines()


def test_same_size_change_is_detected(tmp_path):
    pack = make_pack(tmp_path / "p")
    (pack / "summary.json").write_text('{"verdict": "GO"}')
    assert verify(pack).changed == ["summary.json"]


def test_not_a_pack(tmp_path):
    with pytest.raises(PackError, match="no manifest.json"):
        verify(tmp_path)
    with pytest.raises(PackError, match="no such pack folder"):
        verify(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(PackError, match="not a readable manifest"):
        verify(tmp_path)


def test_place_never_overwrites_without_force(tmp_path):
    final = tmp_path / "out" / "pack"
    s1 = staging_dir(final)
    (s1 / "a").write_text("1")
    place(s1, final, force=False)
    s2 = staging_dir(final)
    (s2 / "a").write_text("2")
    with pytest.raises(FileExistsError):
        place(s2, final, force=False)
    assert (final / "a").read_text() == "1"
    place(s2, final, force=True)
    assert (final / "a").read_text() == "2"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["pack"]


def _forge(pack, rel, old, new, *, recompute_digest=False):
    """Edit a file, then rewrite its sha256 and size in the manifest (and, for a careful forger, the digest)."""
    p = pack / rel
    p.write_text(p.read_text().replace(old, new))
    m = json.loads((pack / "manifest.json").read_text())
    data = p.read_bytes()
    m["files"][rel] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if recompute_digest:
        m["digest"]["value"] = P.manifest_digest(m)
    (pack / "manifest.json").write_text(json.dumps(m))


def forged_pack(tmp_path, name="p", key=None):
    root = tmp_path / name
    (root / "steps" / "01_x").mkdir(parents=True)
    (root / "steps" / "01_x" / "results.json").write_text('{"checks": [{"id": "model.roc_auc", "status": "fail"}]}')
    (root / "index.html").write_text("<p>Verdict: NO-GO</p>")
    m = write_manifest(root, {"pack": name}, key=key)
    return root, m["digest"]["value"]


def test_manifest_carries_its_digest_and_a_rewritten_manifest_is_caught(tmp_path):
    pack, digest = forged_pack(tmp_path)
    assert digest.startswith("sha256:") and verify(pack).ok and verify(pack, digest=digest).ok
    assert P.read_digest(pack) == digest
    _forge(pack, "steps/01_x/results.json", '"fail"', '"pass"')
    _forge(pack, "index.html", "NO-GO", "GO")
    rep = verify(pack)  # file hashes match the edited manifest, but its own digest does not
    assert not rep.ok and rep.changed == [] and any("digest does not match its content" in ln for ln in rep.lines())


def test_a_careful_forgery_is_caught_by_the_recorded_digest(tmp_path):
    pack, digest = forged_pack(tmp_path)
    _forge(pack, "steps/01_x/results.json", '"fail"', '"pass"', recompute_digest=True)
    _forge(pack, "index.html", "NO-GO", "GO", recompute_digest=True)
    assert verify(pack).ok  # self-consistent: an unsigned manifest cannot prove more
    rep = verify(pack, digest=digest)
    assert not rep.ok and any("differs from the recorded" in ln for ln in rep.lines())
    assert verify(pack, digest=digest.split(":")[1]).ok is False  # with or without the prefix
    with pytest.raises(PackError, match="not a pack digest"):
        verify(pack, digest="abc")


def test_a_careful_forgery_is_caught_by_the_signature(tmp_path):
    key = KEY.encode()
    pack, _ = forged_pack(tmp_path, key=key)
    m = json.loads((pack / "manifest.json").read_text())
    assert m["signature"]["algorithm"] == "hmac-sha256" and m["signature"]["key_id"] == P.key_id(key)
    assert KEY not in (pack / "manifest.json").read_text()
    rep = verify(pack, key=key)
    assert rep.ok and rep.signature == "valid" and any("signature: valid" in ln for ln in rep.lines())
    assert verify(pack, check_signature=False).signature == "unchecked"
    _forge(pack, "steps/01_x/results.json", '"fail"', '"pass"', recompute_digest=True)
    rep = verify(pack, key=key)
    assert not rep.ok and rep.signature == "invalid" and any("changed after it was signed" in ln for ln in rep.lines())
    other = verify(pack, key=b"x" * 40)
    assert not other.ok and any("made with another key" in ln for ln in other.lines())
    unsigned, _ = forged_pack(tmp_path, "u")
    rep = verify(unsigned, key=key)
    assert not rep.ok and rep.signature == "missing"


def test_signing_key_from_the_environment_is_checked_and_never_shown():
    assert P.signing_key({}) is None
    assert P.signing_key({P.SIGNING_KEY_ENV: KEY}) == KEY.encode()
    with pytest.raises(PackError) as e:
        P.signing_key({P.SIGNING_KEY_ENV: "short-secret"})
    assert "short-secret" not in str(e.value) and "fewer than 32" in str(e.value)


def test_build_folders_are_never_taken_for_packs(tmp_path):
    final = tmp_path / "out" / "pack"
    s = staging_dir(final)
    assert P.work_folder(s) and (s / P.OWNER_FILE).exists()
    write_manifest(s, {"pack": "pack"})  # even with a manifest inside
    with pytest.raises(PackError, match="working folder of a playbook run"):
        verify(s)
    old = tmp_path / "out" / ".pack.old-abc123"
    old.mkdir()
    with pytest.raises(PackError, match="a replaced pack being removed"):
        verify(old)


def test_the_pack_name_lock_is_exclusive_and_dies_with_its_holder(tmp_path):
    final = tmp_path / "pack"
    with P.PackLock(final):
        assert P.is_locked(final)
        with pytest.raises(PackError, match="another playbook run is writing this pack .pid"):
            P.PackLock(final).acquire()
    assert not P.is_locked(final) and not P.lock_path(final).exists()
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from pathlib import Path; from playbook.pack import PackLock; "
            "PackLock(Path(sys.argv[2])).acquire(); print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, os.getcwd(), str(final)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert P.is_locked(final)
    finally:
        proc.kill()
        proc.wait()
    assert not P.is_locked(final)  # the kernel dropped the lock of the killed holder
    P.PackLock(final).acquire().release()


def test_clean_removes_dead_build_folders_only(tmp_path):
    out = tmp_path / "out"
    dead = staging_dir(out / "a")
    (dead / P.OWNER_FILE).write_text(json.dumps({"pid": 999999, "host": "elsewhere"}))
    live = staging_dir(out / "b")
    trash = out / ".c.old-x1"
    (trash / "c").mkdir(parents=True)
    write_manifest(trash / "c", {"pack": "c"})
    (out / "d").mkdir()  # a pack (or anything else) is never touched
    with P.PackLock(out / "b"):
        rep = P.clean_stale(out)
    assert sorted(p.name for p in rep.removed) == sorted([dead.name, trash.name])
    assert [p for p, _ in rep.kept] == [live] and rep.restored == [out / "c"]
    assert sorted(p.name for p in out.iterdir()) == sorted(["c", "d", live.name])
    assert verify(out / "c").ok  # the pack a run moved aside when it was killed is back
    assert P.clean_stale(out, "b", holding_lock=True).removed == [live]


def test_place_swaps_atomically_with_force(tmp_path):
    final = tmp_path / "out" / "pack"
    s1 = staging_dir(final)
    (s1 / "a").write_text("1")
    place(s1, final, force=False)
    s2 = staging_dir(final)
    (s2 / "a").write_text("2")
    place(s2, final, force=True)
    assert (final / "a").read_text() == "2" and not s2.exists()


def test_check_writable_refuses_unwritable_or_full_output(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PackError, match="--out .*file/sub: cannot write there"):
        P.check_writable(tmp_path / "file" / "sub")
    if os.path.isdir("/sys"):
        with pytest.raises(PackError, match="cannot write there"):
            P.check_writable(__import__("pathlib").Path("/sys/playbook-evidence"))
    P.check_writable(tmp_path / "ok")
    assert list((tmp_path / "ok").iterdir()) == []  # the probe is gone
    monkeypatch.setattr(P.shutil, "disk_usage", lambda p: type("U", (), {"free": 10 * 2 ** 20})())
    with pytest.raises(PackError, match="only 10 MB free on that disk"):
        P.check_writable(tmp_path / "ok")


def test_require_verified_refuses_in_one_sentence_of_the_callers_own_type(tmp_path):
    class CallerError(ValueError):
        pass

    pack, digest = forged_pack(tmp_path)
    rep = P.require_verified(pack, digest, purpose="use an untouched pack", error=CallerError)
    assert rep.ok and rep.digest == digest
    with pytest.raises(CallerError, match="no such pack folder"):   # verify's PackError in the caller's type
        P.require_verified(tmp_path / "nope", purpose="x", error=CallerError)
    with pytest.raises(PackError, match="no such pack folder"):     # by default a PackError
        P.require_verified(tmp_path / "nope", purpose="x")
    with pytest.raises(CallerError, match="differs from the recorded") as exc:   # a digest only: no file differs
        P.require_verified(pack, "sha256:" + "0" * 64, purpose="use the recorded pack", error=CallerError)
    assert "does not match its manifest" not in str(exc.value)
    (pack / "index.html").write_text("<p>GO</p>")
    for i in range(3):
        (pack / f"extra{i}.txt").write_text("x")
    with pytest.raises(CallerError) as exc:
        P.require_verified(pack, purpose="serve an untouched pack", error=CallerError, subject="--previous P")
    msg = str(exc.value)
    assert msg.startswith("--previous P: the pack does not verify: it does not match its manifest (index.html changed; "
                          "extra0.txt extra; extra1.txt extra; and 1 more)")
    assert msg.endswith(f"run `playbook verify {pack}` to see what changed, and serve an untouched pack.")
    assert "\n" not in msg
