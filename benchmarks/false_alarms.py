"""False alarms of the calibrated monitor against Evidently's default drift tests, on data known to be clean.

    python benchmarks/false_alarms.py [--config examples/adult.yaml] [--batch 200,400] [--seed 0]

For each batch size, as the monitoring step does it: the pack's seeded split of the reference
(:mod:`playbook.holdout`), the monitors calibrated on the calibration rows only
(``playbook.monitoring.setup.make_config``, the step's defaults: 1 false alarm per 30 batches), ``monitoring.yaml``
written and read back, then the deployed monitor (``playbook monitor``'s ``check_batch``) on *disjoint* batches of
the clean held-out rows it never saw. The reference tool, on the same batches in the same run: Evidently's default
per-column drift tests (an alarm when any column is flagged, as a default Evidently drift report reads), through
``playbook.drift.detect.DriftDetector``, whose decisions the test suite checks against Evidently 0.7's.

No config: the bundled German credit data. Prints one line per batch size, then, as its last line, one JSON
object: ``{"config", "seed", "budget", "results": [{"batch_rows", "batches", "calibrated": {alarms, rate, ci},
"evidently_defaults": {alarms, rate, ci}, "ratio_vs_reference", "verdict"}]}``. ``ratio_vs_reference`` is the
calibrated false-alarm rate divided by the defaults' (0 when the calibrated monitor never alarmed).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(config: str | None, batch: int, seed: int = 0) -> dict:
    import playbook
    from playbook.audit import contract as contract_mod
    from playbook.modeling import get_model
    from playbook.monitoring import setup as msetup
    from playbook.monitoring.spec import load_spec, save_spec

    ctx = playbook.load_context(config or "", overrides=[f"seed={seed}"])
    model = get_model(ctx)
    contract = contract_mod.build_contract(ctx.reference, ctx.roles)
    ms = msetup.make_config(ctx, model, contract, batch_size=batch)
    with tempfile.TemporaryDirectory() as tmp:
        spec = load_spec(save_spec(ms.spec, Path(tmp) / "monitoring.yaml"))
    kinds = {c: "numeric" if c in ctx.numeric_features else "categorical" for c in ctx.features}
    m = msetup.held_out_false_alarms(spec, ms.clean, batch, seed=ctx.seed, default_kinds=kinds, reference=ms.frame)
    ref = m.get("evidently_defaults") or {}
    ratio = (m["rate"] / ref["rate"]) if ref.get("rate") else None
    return {"batch_rows": batch, "batches": m["batches"], "clean_rows": int(len(ms.clean)),
            "calibrated": {"alarms": m["alarms"], "rate": m["rate"], "ci": m["ci"]},
            "evidently_defaults": {k: ref.get(k) for k in ("alarms", "rate", "ci")},
            "ratio_vs_reference": None if ratio is None else round(ratio, 4), "verdict": m["status"],
            "note": m.get("inconclusive") or "", "budget": spec.alpha}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="", help="a pack config (default: the bundled German credit data)")
    ap.add_argument("--batch", default="200", help="batch sizes, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    results = []
    for b in [int(x) for x in a.batch.split(",") if x]:
        r = measure(a.config or None, b, a.seed)
        results.append(r)

        def pct(d):
            if d.get("rate") is None:
                return "n/a"
            return f"{d['alarms']}/{r['batches']} ({d['rate']:.1%}, 95% CI {d['ci'][0]:.1%}-{d['ci'][1]:.1%})"

        print(f"batch {b:>5}: {r['batches']} disjoint clean batches; calibrated {pct(r['calibrated'])}; "
              f"Evidently defaults {pct(r['evidently_defaults'])}; check {r['verdict']} {r['note']}".rstrip())
    budget = results[0]["budget"] if results else None
    for r in results:
        r.pop("budget")
    print(json.dumps({"config": a.config or "bundled german-credit", "seed": a.seed, "budget": budget,
                      "results": results}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
