"""PII detection, masking, flag caching, redaction and the leak search (the privacy layer, playbook.privacy)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from playbook import display
from playbook import privacy as pii
from playbook.governance import pii as gpii
from playbook.privacy import leaks


def luhn_complete(prefix: str) -> str:
    """The card number that starts with ``prefix`` and ends with its Luhn check digit."""
    for d in "0123456789":
        if pii.luhn_valid(prefix + d):
            return prefix + d
    raise AssertionError


def iban_with_check(country: str, bban: str) -> str:
    """A valid IBAN for ``bban`` (check digits computed per ISO 13616)."""
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


N = 60
RNG = np.random.default_rng(7)


def planted_frame(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame({
        "contact": [f"person{i}.mail@example{i % 5}.org" for i in range(n)],
        "mobile": [f"+49 151 {rng.integers(1_000_000, 9_999_999)}" for _ in range(n)],
        "card": [luhn_complete("5" + "".join(map(str, rng.integers(0, 10, 14)))) for _ in range(n)],
        "ssn_field": [f"{rng.integers(100, 599)}-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(n)],
        "client_ip": [f"10.{rng.integers(0, 255)}.{rng.integers(0, 255)}.{rng.integers(1, 254)}" for _ in range(n)],
        "account": [iban_with_check("DE", f"{rng.integers(10**17, 10**18 - 1)}") for _ in range(n)],
        "date_of_birth": [f"19{rng.integers(50, 99)}-0{rng.integers(1, 9)}-1{rng.integers(0, 9)}" for _ in range(n)],
        "full_name": [f"{g} {f}" for g, f in zip(rng.choice(["Anna", "John", "Maria", "Peter", "Aisha", "Kenji"], n),
                                                 rng.choice(["Schmidt", "Okafor", "García", "O'Brien", "Tanaka"], n))],
        "amount": rng.integers(100, 10_000, n),
        "purpose": rng.choice(["car (new)", "furniture/equipment", "radio/television"], n),
    })


def kinds_by_column(df: pd.DataFrame) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in pii.scan_frame(df):
        if f.flagged:
            out.setdefault(f.column, set()).add(f.kind)
    return out


# --- validators ------------------------------------------------------------------------------------
def test_luhn_and_card_validity():
    assert pii.luhn_valid("4111111111111111")
    assert not pii.luhn_valid("4111111111111112")
    assert pii.card_valid("4111 1111 1111 1111")
    assert not pii.card_valid("0000000000000000")  # passes Luhn, but not a card
    assert not pii.card_valid("4111111111111112")


def test_iban_checksum_and_length():
    good = iban_with_check("GB", "WEST12345698765432")
    assert good == "GB82WEST12345698765432"
    assert pii.iban_valid(good)
    assert pii.iban_valid("DE89 3704 0044 0532 0130 00")
    assert not pii.iban_valid("DE89 3704 0044 0532 0130 01")   # wrong check
    assert not pii.iban_valid("DE89370400440532013")          # wrong length for DE


def test_ssn_rules():
    assert pii.ssn_valid("123", "45", "6789")
    for bad in (("000", "12", "3456"), ("666", "12", "3456"), ("912", "12", "3456"), ("123", "00", "4567"),
                ("123", "45", "0000")):
        assert not pii.ssn_valid(*bad)


# --- single values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text,kind", [
    ("reach me at jane.doe+work@mail.example.com", "email"),
    ("+44 20 7946 0958", "phone"),
    ("(555) 123-4567", "phone"),
    ("030 12345678", "phone"),
    ("4111 1111 1111 1111", "payment_card"),
    ("5555-5555-5555-4444", "payment_card"),
    ("SSN 123-45-6789", "us_ssn"),
    ("192.168.10.20", "ip_address"),
    ("2001:db8::8a2e:370:7334", "ip_address"),
    ("GB82 WEST 1234 5698 7654 32", "iban"),
    ("DOB: 12/03/1985", "date_of_birth"),
])
def test_find_pii_each_kind(text, kind):
    assert kind in {s.kind for s in pii.find_pii(text)}


@pytest.mark.parametrize("text", [
    "4111111111111112",          # 16 digits failing Luhn
    "1234 5678 9012 3456",       # card-shaped, fails Luhn
    "000-12-3456",               # SSN with invalid area
    "666-12-3456",
    "GB00 WEST 1234 5698 7654 32",  # IBAN with a wrong check
    "10.300.1.2",                # not an IP (octet > 255)
    "12:30:45",                  # a time, not IPv6
    "2023-01-15",                # a date without a birth hint
    "user at example dot com",
    "3345",
])
def test_look_alikes_not_found(text):
    assert pii.find_pii(text) == []


def test_bare_digits_need_a_column_hint():
    assert pii.find_pii("5551234567") == []
    assert [s.kind for s in pii.find_pii("5551234567", column="phone_number")] == ["phone"]
    assert pii.find_pii("123456789") == []
    assert [s.kind for s in pii.find_pii("123456789", column="SSN")] == ["us_ssn"]


def test_name_shape():
    for v in ("Ada Lovelace", "van der Berg, Jan", "José García-Pérez", "Seán O'Brien", "J. Smith", "ann smith",
              "SMITH, ANN", "Ann-Marie O'Neil", "Dr. Jan van der Berg"):
        assert pii.looks_like_name(v), v
    for v in ("male : single", "car (new)", "Account 12", "skilled employee / official", "a"):
        assert not pii.looks_like_name(v), v


def test_column_name_hints():
    assert pii.name_hints("first_name") == ["person_name"]
    assert pii.name_hints("customerName") == ["person_name"]
    assert pii.name_hints("product_name") == []
    assert pii.name_hints("telephone") == ["phone"]
    assert pii.name_hints("DateOfBirth") == ["date_of_birth"]


# --- columns -----------------------------------------------------------------------------------------
def test_scan_flags_each_planted_kind():
    got = kinds_by_column(planted_frame())
    assert got == {
        "contact": {"email"}, "mobile": {"phone"}, "card": {"payment_card"}, "ssn_field": {"us_ssn"},
        "client_ip": {"ip_address"}, "account": {"iban"}, "date_of_birth": {"date_of_birth"},
        "full_name": {"person_name"},
    }


def test_scan_reports_share_and_masked_example():
    df = planted_frame()
    df.loc[: N // 2 - 1, "contact"] = "n/a"           # half the values are not e-mails
    f = next(f for f in pii.scan_frame(df) if f.column == "contact")
    assert f.kind == "email" and f.flagged
    assert f.share == pytest.approx(0.5)
    assert f.example.endswith(".org") and "@" in f.example
    assert f.example not in set(df["contact"])         # the example is masked, not a raw value


def test_no_flag_on_look_alike_columns():
    rng = np.random.default_rng(3)
    n = 400
    ids16 = [str(v) for v in rng.integers(10**15, 10**16 - 1, n)]   # ~10% pass Luhn by chance
    bad_iban = [iban_with_check("DE", f"{v}") for v in rng.integers(10**17, 10**18 - 1, n)]
    bad_iban = [s[:2] + ("00" if s[2:4] != "00" else "01") + s[4:] for s in bad_iban]   # break the check digits
    df = pd.DataFrame({
        "order_id": ids16,
        "order_id_int": rng.integers(10**15, 10**16 - 1, n),
        "ref": bad_iban,
        "bad_ssn": [f"000-{rng.integers(10, 99)}-{rng.integers(1000, 9999)}" for _ in range(n)],
        "version": [f"{rng.integers(256, 999)}.{rng.integers(0, 9)}.{rng.integers(0, 9)}.{rng.integers(0, 9)}" for _ in range(n)],
        "booked_at": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d"),
        "telephone": rng.choice(["none", "yes, registered under the customers name"], n),
        "product_name": rng.choice(["Gold Card", "Silver Plan", "New Car"], n),
        "category": rng.choice(["New Car", "Used Car", "Radio Television"], n),
        "amount": rng.normal(1000, 100, n),
    })
    assert kinds_by_column(df) == {}
    card = [f for f in pii.scan_column(df["order_id"]) if f.kind == "payment_card"]
    assert card and not card[0].flagged and card[0].valid_ratio < 0.5   # reported, but as look-alikes


def test_bundled_german_credit_has_no_pii():
    from playbook.paths import dataset_dir

    df = pd.read_csv(dataset_dir() / "german_credit" / "reference.csv")
    assert kinds_by_column(df) == {}


def test_pii_inside_free_text_is_flagged():
    notes = ["call back tomorrow"] * 40 + ["customer wrote from anna.k@example.net"] * 2
    assert kinds_by_column(pd.DataFrame({"notes": notes})) == {"notes": {"email"}}


def test_pii_in_column_names():
    df = pd.DataFrame({"spend_jane.roe@example.com": [1, 2], "amount": [3, 4]})
    found = [f for f in pii.scan_frame(df) if f.basis == "column name"]
    assert [f.kind for f in found] == ["email"]
    out = display.redact(df)
    assert "spend_jane.roe@example.com" not in out.columns and "amount" in out.columns


# --- masking -----------------------------------------------------------------------------------------
def test_mask_value_keeps_kind_not_person():
    assert pii.mask_value("john.doe@example.com") == "j***@***.com"
    assert pii.mask_value("4111 1111 1111 1111") == "**** **** **** 1111"
    assert pii.mask_value("123-45-6789") == "***-**-6789"
    assert pii.mask_value("192.168.1.20") == "192.*.*.*"
    m = pii.mask_value("DE89 3704 0044 0532 0130 00")
    assert m.startswith("DE") and m.endswith("3000") and "3704" not in m
    assert pii.mask_value("Ada Lovelace", kind="person_name") == "A** L*******"
    assert pii.mask_value(None) is None


def test_mask_series_masks_every_value_and_keeps_nulls():
    df = planted_frame()
    for col in ("contact", "mobile", "card", "ssn_field", "client_ip", "account", "date_of_birth", "full_name"):
        s = df[col].copy()
        s.iloc[0] = None
        m = pii.mask_series(s)
        assert m.iloc[0] is None
        raw = set(s.dropna())
        assert not any(v in raw for v in m.dropna()), col
        assert not any(r in v for v in m.dropna() for r in list(raw)[:10]), col


# --- flag_columns, caching and redact ---------------------------------------------------------------
def fake_ctx(df: pd.DataFrame, allow_raw: bool = False):
    cur = df.iloc[:10].copy()
    return SimpleNamespace(reference=df, current=cur, policy=SimpleNamespace(allow_raw_pii=allow_raw),
                           privacy=pii.scan_data(df, cur))


def test_flag_columns_uses_context_and_derived_frames():
    df = planted_frame()
    ctx = fake_ctx(df)
    flagged = pii.flag_columns(df, ctx)
    assert set(flagged) == {"contact", "mobile", "card", "ssn_field", "client_ip", "account", "date_of_birth", "full_name"}
    # a derived frame where e-mails moved into another column (a swapped-columns fault) is still caught
    swapped = df.rename(columns={"contact": "purpose", "purpose": "contact"})
    assert "purpose" in pii.flag_columns(swapped, ctx)


def test_flagging_is_cached(monkeypatch):
    df = planted_frame()
    ctx = fake_ctx(df)
    pii.flag_columns(df.head(3), ctx)
    calls = []
    from playbook.privacy import detect

    real = detect.scan_column

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(detect, "scan_column", counting)
    for _ in range(5):
        display.show(df, ctx)
    assert len(calls) <= df.shape[1]            # the non-flagged head columns, once; then cached
    n = len(calls)
    display.show(df, ctx)
    assert len(calls) == n


def test_redact_masks_flagged_and_leaves_others():
    df = planted_frame()
    ctx = fake_ctx(df)
    out = display.redact(df, ctx)
    assert out["amount"].equals(df["amount"]) and out["purpose"].equals(df["purpose"])
    text = out.to_csv()
    for col in ("contact", "mobile", "card", "ssn_field", "client_ip", "account", "full_name"):
        assert not any(v in text for v in df[col].astype(str)), col
    assert df["contact"].iloc[0] in df.to_csv()                 # input untouched


def test_redact_masks_an_identifying_index():
    df = planted_frame().set_index("contact")
    out = display.redact(df, fake_ctx(planted_frame()))
    assert not set(out.index) & set(planted_frame()["contact"])


def test_allow_raw_pii_turns_redaction_off():
    df = planted_frame()
    out = display.redact(df, fake_ctx(df, allow_raw=True))
    assert out["contact"].equals(df["contact"])


# --- leak scan and scrubbing -----------------------------------------------------------------------
def test_scan_files_finds_raw_values_in_any_form(tmp_path):
    df = planted_frame()
    needles = leaks.needles([df], ["contact", "card", "full_name"])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "clean.json").write_text(json.dumps({"x": pii.mask_series(df["contact"]).tolist()}))
    (tmp_path / "a" / "leak.html").write_text(f"<td>{df['contact'].iloc[3]}</td>")
    digits = df["card"].iloc[5]
    spaced = " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))
    (tmp_path / "b.txt").write_text(f"card {spaced} and {df['full_name'].iloc[0].replace(chr(39), '&#x27;')}")
    needles["card"] = [spaced] + needles["card"]
    hits, searched = leaks.search(tmp_path, needles)
    assert searched == 3
    files = {(h["file"], h["column"]) for h in hits}
    assert ("a/leak.html", "contact") in files
    assert ("b.txt", "card") in files
    assert all(h["file"] != "a/clean.json" for h in hits)
    assert all(h["example"] not in set(df["contact"]) for h in hits)   # reports are masked too
    excluded, _ = leaks.search(tmp_path, needles, exclude=[tmp_path / "a"])
    assert {h["file"] for h in excluded} == {"b.txt"}


def test_scan_files_finds_digit_only_rendering(tmp_path):
    needles = {"card": ["4111 1111 1111 1111"]}
    (tmp_path / "x.json").write_text('{"v": 4111111111111111}')
    assert [h["column"] for h in leaks.search(tmp_path, needles)[0]] == ["card"]


def test_scrub_text():
    text = "Contact ada@example.com or card 4111 1111 1111 1111; name Ada Lovelace."
    out = pii.scrub_text(text, {"name": ["Ada Lovelace"]})
    assert "ada@example.com" not in out and "4111 1111 1111 1111" not in out and "Ada Lovelace" not in out
    assert "a***@***.com" in out


def test_pii_checks_statuses():
    df = planted_frame()
    scan = fake_ctx(df).privacy
    checks = {c["id"]: c for c in gpii.pii_checks(scan, features=["amount", "contact"])}
    assert checks["governance.pii.scan"]["status"] == "warn"
    assert checks["governance.pii.scan"]["value"]["columns"]["card"] == ["payment_card", "identifier"]
    assert checks["governance.pii.features"]["value"] == {"used": ["contact"], "excluded_automatically": []}
    clean = fake_ctx(df[["amount", "purpose"]]).privacy
    checks = {c["id"]: c for c in gpii.pii_checks(clean, features=["amount"])}
    assert checks["governance.pii.scan"]["status"] == "pass"
    assert checks["governance.pii.features"]["status"] == "pass"


def test_scan_files_finds_float_renderings_of_long_numbers(tmp_path):
    needles = {"card_number": ["4111111111111111"]}
    (tmp_path / "contract.json").write_text('{"min": 4111111111111111.0}')
    (tmp_path / "report.html").write_text("<td>4.111111111111111e+15</td>")
    (tmp_path / "other.json").write_text('{"min": 4111111110000000.0}')   # rounded: not the value
    hits, _ = leaks.search(tmp_path, needles)
    assert [h["file"] for h in hits] == ["contract.json", "report.html"]


def test_multiindex_columns_of_a_flagged_column_are_masked():
    df = planted_frame()
    ctx = fake_ctx(df)
    scaled = df[["card", "amount"]].copy()
    scaled["card"] = scaled["card"].astype("int64") * 1000          # a unit-change fault: no longer Luhn-valid
    both = pd.concat({"before": df[["card", "amount"]], "after": scaled}, axis=1)
    flagged = pii.flag_columns(both, ctx)
    assert ("before", "card") in flagged and ("after", "card") in flagged
    assert ("after", "amount") not in flagged
    out = display.redact(both, ctx)
    assert not any(str(v) in out.to_csv() for v in scaled["card"])
