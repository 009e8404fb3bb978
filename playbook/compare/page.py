"""compare.html: the comparison of two packs for people (a function of compare.json, nothing else).

Self-contained: inline CSS (the pack page's), no script, no network, Jinja autoescape (check ids, config lines and
package names are data)."""

from __future__ import annotations

import jinja2

from playbook.page import CSS

_EXTRA_CSS = """
.r-promote{background:#dff5e3;color:#0d5322;border:2px solid #2e9d4c}
.r-hold{background:#fff1d6;color:#6a4100;border:2px solid #c98f00}
.r-roll-back{background:#fde4e1;color:#7d180d;border:2px solid #d0402f}
.o-ok{background:#dff5e3;color:#0d5322}.o-worse{background:#fde4e1;color:#7d180d}.o-unknown{background:#fff1d6;color:#6a4100}
pre.diff{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;overflow-x:auto;font-size:13px}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
th{overflow-wrap:normal}
"""

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _num(x, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, (int, float)):
        return f"{x:.{digits}g}"
    return str(x)


def _signed(x, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:+.{digits}g}"


_ENV.filters["num"] = _num
_ENV.filters["signed"] = _signed

TEMPLATE = _ENV.from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Comparison {{ c.old.name }} to {{ c.new.name }}: {{ c.recommendation }}</title>
<style>{{ css | safe }}</style></head>
<body>
<header><h1>Comparison of two evidence packs</h1>
<p class="meta">old: <code>{{ c.old.name }}</code> (verdict {{ c.old.verdict }}) &middot; new: <code>{{ c.new.name }}</code>
(verdict {{ c.new.verdict }})</p></header>
<main>
<section id="summary" aria-labelledby="rec-title">
<div id="recommendation" class="verdict r-{{ c.recommendation | replace(' ', '-') }}">
<strong id="rec-title">Recommendation: {{ c.recommendation }}</strong>
<span>{{ lead }}</span></div>
<table class="rows"><caption class="why">Each criterion of policy.promotion, judged on the evidence of both packs</caption>
<thead><tr><th scope="col">criterion</th><th scope="col">outcome</th><th scope="col">why</th></tr></thead><tbody>
{% for r in c.reasons %}<tr><td data-label="criterion">{{ r.criterion | replace('_', ' ') }}</td>
<td data-label="outcome"><span class="s o-{{ r.outcome }}">{{ r.outcome }}</span></td><td data-label="why">{{ r.text }}</td></tr>
{% endfor %}</tbody></table>
</section>

<h2 id="metrics">Metric deltas (new minus old)</h2>
<p class="lead">{{ c.pairing.why }}</p>
{% if c.deltas %}
<table class="rows"><thead><tr><th scope="col">metric</th><th scope="col">old</th><th scope="col">new</th>
<th scope="col">delta</th><th scope="col">{{ (c.policy.confidence * 100) | round | int }}% CI of the delta</th><th scope="col">interval</th></tr></thead><tbody>
{% for name, d in c.deltas.items() %}<tr><td data-label="metric"><code>{{ name }}</code>{% if name == c.metric %} (decides){% endif %}</td>
<td data-label="old" class="num">{{ d.old | num }}</td><td data-label="new" class="num">{{ d.new | num }}</td>
<td data-label="delta" class="num">{{ d.delta | signed }}</td>
<td data-label="CI" class="num">{{ d.ci_low | signed }} to {{ d.ci_high | signed }}</td><td data-label="interval">{{ d.kind }}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p>No metric was measured in both packs.</p>{% endif %}
{% if c.business %}
<p>Business value per day ({{ c.business.currency }}): old {{ c.business.old | num }}, new {{ c.business.new | num }},
delta {{ c.business.delta | signed }} (CI {{ c.business.ci_low | signed }} to {{ c.business.ci_high | signed }}, {{ c.business.kind }};
both models under the new pack's costs).</p>
{% endif %}

<h2 id="fairness">Fairness gaps</h2>
{% if c.fairness %}
<table class="rows"><thead><tr><th scope="col">gap</th><th scope="col">old</th><th scope="col">new</th><th scope="col">bound</th>
<th scope="col">new status</th><th scope="col">grown past its bound</th></tr></thead><tbody>
{% for f in c.fairness %}<tr><td data-label="gap"><code>{{ f.id }}</code></td><td data-label="old" class="num">{{ f.old | num }}</td>
<td data-label="new" class="num">{{ f.new | num }}</td><td data-label="bound" class="num">{{ f.bound | num }}</td>
<td data-label="new status"><span class="s s-{{ f.new_status }}">{{ f.new_status }}</span></td>
<td data-label="grown">{{ 'yes' if f.grown_past_bound else 'no' }}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p>No fairness gap with a bound in the new pack.</p>{% endif %}

<h2 id="flips">Checks that changed status ({{ c.flips | length }})</h2>
{% if c.flips %}
<table class="rows"><thead><tr><th scope="col">check</th><th scope="col">old</th><th scope="col">new</th><th scope="col">blocking gate</th></tr></thead><tbody>
{% for f in c.flips %}<tr><td data-label="check"><code>{{ f.id }}</code></td>
<td data-label="old"><span class="s s-{{ f.old }}">{{ f.old }}</span></td><td data-label="new"><span class="s s-{{ f.new }}">{{ f.new }}</span></td>
<td data-label="blocking">{{ 'yes' if f.blocking else 'no' }}</td></tr>
{% endfor %}</tbody></table>
{% else %}<p>Every check has the same status in both packs.</p>{% endif %}
<p>Blocking gates newly failing: {{ c.gates.new_blocking_failures | join(', ') or 'none' }}; fixed:
{{ c.gates.fixed_blocking_failures | join(', ') or 'none' }}.</p>

<h2 id="changed">What changed</h2>
<table class="kv"><tbody>
<tr><th scope="row">model</th><td>{{ 'changed' if c.changed.model.changed else 'the same' }}: <code>{{ (c.changed.model.old or 'none')[:16] }}</code>
({{ c.changed.model.old_mode }}) to <code>{{ (c.changed.model.new or 'none')[:16] }}</code> ({{ c.changed.model.new_mode }})</td></tr>
<tr><th scope="row">data</th><td>{% for d in c.changed.data %}{{ d.key }}: <code>{{ (d.old or 'none')[:16] }}</code> to <code>{{ (d.new or 'none')[:16] }}</code>{% if not loop.last %}; {% endif %}{% else %}the same input files{% endfor %}</td></tr>
<tr><th scope="row">playbook</th><td>{{ c.changed.playbook_version.old }} to {{ c.changed.playbook_version.new }}</td></tr>
<tr><th scope="row">python</th><td>{{ c.changed.python.old }} to {{ c.changed.python.new }}</td></tr>
<tr><th scope="row">packages</th><td>{% for p in c.changed.packages %}{{ p.key }} {{ p.old or 'absent' }} to {{ p.new or 'absent' }}{% if not loop.last %}; {% endif %}{% else %}the same versions{% endfor %}</td></tr>
</tbody></table>
<h3>Resolved config</h3>
{% if c.changed.config_diff %}<pre class="diff">{{ c.changed.config_diff | join('\n') }}</pre>
{% else %}<p>The resolved configs are the same.</p>{% endif %}
</main>
<footer><p class="meta">Written by <code>playbook compare</code> from compare.json; the recommendation follows policy.promotion
(see the README's "Compare two packs").</p></footer>
</body></html>
""")

LEAD = {
    "promote": "the new pack is not worse on any criterion: the new model can replace the old one.",
    "hold": "nothing shows the new model worse, but some evidence is missing: keep the old model until it is there.",
    "roll back": "the evidence shows the new model worse: keep (or go back to) the old model.",
}


def render(comparison: dict) -> str:
    return TEMPLATE.render(css=CSS + _EXTRA_CSS, c=comparison, lead=LEAD[comparison["recommendation"]])


__all__ = ["render"]
