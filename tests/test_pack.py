import json

import pytest

from playbook.pack import PackError, place, staging_dir, verify, write_manifest


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
