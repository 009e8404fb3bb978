"""The planted-canary test: a realistic people dataset with personal data of every kind (names in four shapes,
e-mails, phones, cards, SSNs, IBANs, IPs, dates of birth, a unique free-text id) goes through a full
`python -m playbook run`, and not one raw value of those columns occurs in any file of the pack.

The search here is the test's own, independent of the playbook's leak search: every file's bytes, the members of
every zip archive, Parquet files' values, and UTF-16 / UTF-32 decodings of binary data.
"""

from __future__ import annotations

import html
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests import people
from tests.conftest import run_cli, shared
from tests.test_governance_e2e import small_steps

pytestmark = pytest.mark.slow


def _texts(name: str, data: bytes) -> list[str]:
    out = [data.decode("utf-8", errors="ignore")]
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for m in z.namelist():
                out += _texts(m, z.read(m))
    if data[:4] == b"PAR1":
        df = pd.read_parquet(io.BytesIO(data))
        out.append("\n".join(df.astype(str).to_numpy().ravel().tolist()))
    if b"\x00" in data:
        for enc, w in (("utf-16-le", 2), ("utf-32-le", 4)):
            for off in range(w):
                chunk = data[off:]
                out.append(chunk[: len(chunk) - len(chunk) % w].decode(enc, errors="ignore"))
    return out


def raw_occurrences(root: Path, values: set[str]) -> dict[str, list[str]]:
    """File -> the raw values (as written, HTML- or JSON-escaped) found in it."""
    forms = {}
    for v in values:
        for f in {v, html.escape(v), json.dumps(v)[1:-1]}:
            forms[f] = v
    found: dict[str, list[str]] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        text = "\n".join(_texts(p.name, p.read_bytes()))
        hit = sorted({v for f, v in forms.items() if f in text})
        if hit:
            found[p.relative_to(root).as_posix()] = hit[:5]
    return found


def own_text() -> str:
    """The templates, the library's source and Evidently's embedded report script, read by the test itself."""
    import evidently

    import playbook

    files = sorted((Path(playbook.__file__).parents[1] / "templates").glob("*.ipynb"))
    files += sorted(Path(playbook.__file__).parent.rglob("*.py"))
    files.append(Path(evidently.__file__).parent / "nbextension" / "static" / "index.js")
    return "\n".join(p.read_text(encoding="utf-8", errors="ignore") for p in files if p.exists())


@pytest.fixture(scope="module")
def canary_pack(tmp_path_factory):
    def build(base):
        _, cfg = people.write(base / "data", n=600, seed=11)
        cfg["steps"] = small_steps()
        (base / "data" / "pack.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        proc = run_cli("run", str(base / "data" / "pack.yaml"), "--out", str(base / "evidence"), "-q", timeout=1800)
        return {"proc": proc, "pack": base / "evidence" / "people"}

    # the frame is seeded, so each worker rebuilds it rather than carrying it across
    return {**shared(tmp_path_factory, "canary", build), "df": people.people(600, 11)}


def test_no_raw_canary_value_in_any_file_of_the_pack(canary_pack):
    proc, pack, df = canary_pack["proc"], canary_pack["pack"], canary_pack["df"]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert (pack / "manifest.json").exists() and (pack / "privacy.json").exists()
    # every value of every canary column, long enough not to occur by chance; the documented exception: a one-word
    # value or a date that the pack's own text holds anyway ("August" in Evidently's month list)
    own = own_text()
    values = {str(v) for c in people.PROTECTED for v in df[c] if len(str(v)) >= 6}
    values = {v for v in values if not ((" " not in v and "," not in v) and v in own)}
    assert len(values) > 5000
    assert raw_occurrences(pack, values) == {}


def test_the_pack_records_what_it_protected(canary_pack):
    pack = canary_pack["pack"]
    summary = json.loads((pack / "summary.json").read_text())
    checks = {c["id"]: c for c in summary["checks"]}
    assert set(people.PROTECTED) <= set(summary["pii_excluded_from_features"])
    assert not set(people.PROTECTED) & set(summary["features"])
    scan = checks["governance.pii.scan"]["value"]["columns"]
    for col, kind in [("name", "person_name"), ("customer", "person_name"), ("contact_person", "person_name"),
                      ("first_name", "person_name"), ("email", "email"), ("phone", "phone"),
                      ("card_number", "payment_card"), ("ssn", "us_ssn"), ("iban", "iban"),
                      ("client_ip", "ip_address"), ("date_of_birth", "date_of_birth"), ("record_ref", "identifier")]:
        assert kind in scan[col], (col, scan.get(col))
    for cid in ("governance.pii.redacted", "review.pii.redacted"):
        assert checks[cid]["status"] == "pass", checks[cid]["value"]
        assert checks[cid]["value"]["files_searched"] > 50
    assert checks["data.privacy.identifiers"]["status"] == "warn"
    assert "record_ref" in checks["data.privacy.identifiers"]["value"]["columns"]
    assert checks["governance.privacy.k_anonymity"]["status"] == "fail"      # age, sex, race, zip, birth date
    assert checks["governance.privacy.k_anonymity"]["value"]["value"] == 1
    stored = json.loads((pack / "privacy.json").read_text())
    assert set(people.PROTECTED) <= set(stored["protected_columns"])
