"""Rendering for readers: executed notebooks to HTML (code hidden) and the pack's index.html.

index.html is self-contained (inline CSS, no script, no network): verdict, ML Test Score, gates with
their reasons, every check grouped by step with status, value, threshold and evidence links, the model
card and the compliance map when the governance steps produced them.

Escaping: data reaches readers' browsers in column names and values, so nothing of it may be read as markup.
index.html is rendered with Jinja's autoescape; every HTML or Markdown output of a notebook passes
:func:`sanitize_html` (bleach, an allowlist of tags and attributes: no script, event handler or frame survives); :func:`styled` gives notebooks a pandas Styler whose caption and cells are
escaped (a Styler escapes neither by default); :func:`harden_html` escapes the data Evidently embeds as JSON in a
``<script>`` block of its reports (Evidently writes it unescaped, so a value holding ``</script>`` would end the
block and run whatever follows). The runner applies :func:`harden_html` to every HTML artifact of a pack.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import jinja2

HIDE_TAGS = ("remove_cell", "remove", "hide")

# The lab template loads require.js and MathJax from a CDN; a pack must be readable offline, so drop them.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


def notebook_to_html(ipynb: Path, out: Path) -> None:
    """Render an executed notebook for stakeholders: inputs hidden, tagged cells removed, outputs sanitised.

    The injected-parameters cell keeps its input hidden like every other code cell; the .ipynb next to it
    keeps the code for reviewers who want it. Every HTML or Markdown output passes :func:`sanitize_html` (outputs
    show data, and data may hold markup); JavaScript outputs are dropped.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"playbook_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="playbook_offline.html.j2",
    )
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    trp = TagRemovePreprocessor(remove_cell_tags=set(HIDE_TAGS), enabled=True)
    exporter.register_preprocessor(trp, enabled=True)
    exporter.register_preprocessor(_sanitize_outputs(), enabled=True)
    body, _ = exporter.from_notebook_node(nb)
    from playbook.results import write_text_atomic

    write_text_atomic(out, body)


# What notebook outputs may contain: pandas tables and Stylers, headings, lists, links, inline images; no script,
# no event handler, no iframe, no form (bleach parses the HTML as a browser would and drops the rest).
_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details", "div", "dl",
    "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "style", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
})
_GLOBAL_ATTRS = ("class", "id", "title", "style", "align", "dir", "lang")


def _attr_ok(tag: str, name: str, value: str) -> bool:
    if name in _GLOBAL_ATTRS:
        return True
    if tag == "a":
        return name in ("href", "name") or (name == "rel") or (name == "target" and value == "_blank")
    if tag == "img":
        return name in ("alt", "width", "height") or (name == "src" and value.startswith("data:image/"))
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "scope", "headers")
    if tag in ("col", "colgroup"):
        return name == "span"
    if tag == "style":
        return name in ("type", "scoped")
    if tag in ("table", "details"):
        return name in ("border", "open", "cellpadding", "cellspacing")
    return False


def sanitize_html(markup: str) -> str:
    """Markup a notebook output may show, with everything that could run removed (scripts, event handlers,
    ``javascript:`` links, frames, forms). Tables, Stylers, headings and inline images keep their look."""
    import bleach
    from bleach.css_sanitizer import ALLOWED_CSS_PROPERTIES, CSSSanitizer

    cleaner = bleach.Cleaner(tags=_TAGS, attributes=_attr_ok, protocols={"http", "https", "mailto", "data"},
                             strip=True, strip_comments=True,
                             css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS_PROPERTIES | {
                                 "text-align", "vertical-align", "white-space", "border", "border-collapse",
                                 "padding", "margin", "max-width", "min-width", "overflow-x", "display"}))
    return cleaner.clean(markup)


def _markdown_html(text: str) -> str:
    from nbconvert.filters.markdown import markdown2html_mistune

    return markdown2html_mistune(text)


_SANITIZER: type | None = None


def _sanitize_outputs():
    """The nbconvert preprocessor that sanitises outputs (built on first use: nbconvert is slow to import, and the
    notebooks that only use :func:`styled` never need it)."""
    global _SANITIZER
    if _SANITIZER is None:
        from nbconvert.preprocessors import Preprocessor

        class _SanitizeOutputs(Preprocessor):
            """Code-cell outputs through :func:`sanitize_html`; Markdown outputs rendered, then sanitised; JavaScript and
            SVG outputs (SVG can carry script) dropped when a safer representation is there, else replaced by a note."""

            def preprocess_cell(self, cell, resources, index):
                if cell.get("cell_type") != "code":
                    return cell, resources
                for out in cell.get("outputs", []):
                    data = out.get("data")
                    if not isinstance(data, dict):
                        continue
                    for mime in ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json"):
                        data.pop(mime, None)
                    if "text/markdown" in data:
                        md = data.pop("text/markdown")
                        data.setdefault("text/html", _markdown_html("".join(md) if isinstance(md, list) else md))
                    if "image/svg+xml" in data:
                        svg = data.pop("image/svg+xml")
                        if not any(k in data for k in ("image/png", "image/jpeg", "text/html", "text/plain")):
                            data["text/plain"] = "(an SVG image, left out of this page; see notebook.ipynb)"
                        del svg
                    if "text/html" in data:
                        h = data["text/html"]
                        data["text/html"] = sanitize_html("".join(h) if isinstance(h, list) else h)
                    if not data:
                        data["text/plain"] = ""
                return cell, resources

        _SANITIZER = _SanitizeOutputs
    return _SANITIZER()


def escape(text: Any) -> str:
    """``text`` as HTML text (``<``, ``>``, ``&`` and quotes escaped)."""
    return html.escape(str(text), quote=True)


def styled(df, caption: Any = None):
    """A pandas Styler for a notebook table whose caption, cells, index and header are HTML-escaped (a plain Styler
    puts them into the page as markup)."""
    sty = df.style.format(escape="html").format_index(escape="html", axis=0).format_index(escape="html", axis=1)
    if caption is not None:
        sty = sty.set_caption(escape(caption))
    return sty


_EMBEDDED_JSON = re.compile(r"\bvar\s+((?:additional_graphs_)?metric_[0-9A-Za-z_]+)\s*=\s*")


def _escape_json_text(text: str) -> str:
    # inside JSON, < > & only occur within strings, where \u escapes mean the same characters
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def harden_html(path: Path) -> bool:
    """Escape the JSON an Evidently report embeds in its ``<script>`` (``var metric_... = {...};``) so no value can
    close the script block. Returns True when the file changed; other HTML files are left as they are."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "var metric_" not in text and "var additional_graphs_metric_" not in text:
        return False
    decoder = json.JSONDecoder()
    out, pos, changed = [], 0, False
    for m in _EMBEDDED_JSON.finditer(text):
        if m.start() < pos:
            continue
        try:
            _, end = decoder.raw_decode(text, m.end())
        except ValueError:
            continue
        chunk = text[m.end():end]
        safe = _escape_json_text(chunk)
        out.append(text[pos:m.end()])
        out.append(safe)
        changed |= safe != chunk
        pos = end
    if not changed:
        return False
    out.append(text[pos:])
    from playbook.results import write_text_atomic

    write_text_atomic(p, "".join(out))
    return True


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        return text if len(text) <= 160 else text[:157] + "..."
    return str(value)


def _threshold_text(t: Any) -> str:
    """Gate and check thresholds in words: {"min": 0.7} -> ">= 0.7"; {"status": "fail"} -> "not fail"."""
    if isinstance(t, dict) and t and ({"min", "max", "status"} & set(t)):
        on = {"ci": " (on the CI bound)", "interval": " (on the whole CI)", "estimate": ""}.get(t.get("on"), "")
        parts = []
        if "min" in t:
            parts.append(f">= {_fmt(t['min'])}{on}")
        if "max" in t:
            parts.append(f"<= {_fmt(t['max'])}{on}")
        if "status" in t:
            parts.append("status pass" if t["status"] == "warn" else "status not fail")
        rest = {k: v for k, v in t.items() if k not in ("min", "max", "status", "on")}
        if rest:
            parts.append(", ".join(f"{k} {_fmt(v)}" for k, v in sorted(rest.items())))
        return ", ".join(parts)
    return _fmt(t)


def _evidence_links(pack: Path, step_dir: str | None, evidence: Any) -> list[dict]:
    """Evidence entries as links relative to the pack root; those that do not resolve are marked."""
    if evidence in (None, "", []):
        return []
    items = evidence if isinstance(evidence, list) else [evidence]
    out = []
    for e in items:
        if not isinstance(e, str):
            continue
        if e.startswith(("http://", "https://")):
            out.append({"href": e, "label": e, "ok": True})
            continue
        rel = f"{step_dir}/{e}" if step_dir and not e.startswith("steps/") else e
        target = (pack / rel.split("#")[0])
        ok = target.exists()
        out.append({"href": rel, "label": Path(e.split("#")[0]).name or e, "ok": ok})
    return out


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{margin:0 0 4px 0;font-size:26px} h2{margin-top:32px;border-bottom:1px solid #d8dce2;padding-bottom:4px}
.meta{color:#5a6472;font-size:14px}
.verdict{display:inline-block;padding:10px 18px;border-radius:8px;font-size:22px;font-weight:700;margin:16px 0}
.v-go{background:#dff5e3;color:#11642a;border:2px solid #2e9d4c}
.v-no-go{background:#fde4e1;color:#8c1c10;border:2px solid #d0402f}
.v-error{background:#fff1d6;color:#7a4b00;border:2px solid #e0a100}
.v-incomplete{background:#fff1d6;color:#7a4b00;border:2px solid #e0a100}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px;margin:8px 0}
th,td{border:1px solid #e1e4e8;padding:6px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef0f3}
.nw{white-space:nowrap;overflow-wrap:normal}
.s{font-weight:700;text-transform:uppercase;font-size:12px;padding:2px 6px;border-radius:4px;white-space:nowrap}
.s-pass,.s-go,.s-automated{background:#dff5e3;color:#11642a}.s-warn,.s-manual{background:#fff1d6;color:#7a4b00}
.s-fail,.s-no-go,.s-missing{background:#fde4e1;color:#8c1c10}.s-error{background:#f3d6ff;color:#5b1576}
.s-skip,.s-skipped,.s-na{background:#e8eaed;color:#49505a}
.why{color:#49505a;font-size:13px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:12px 16px;min-width:140px}
.card b{display:block;font-size:22px}
a{color:#0b5cad} .broken{color:#8c1c10;text-decoration:line-through}
code{background:#eef0f3;padding:1px 4px;border-radius:3px}
details{margin:6px 0} td ul{margin:0;padding-left:18px} summary{cursor:pointer;font-weight:600}
"""

_TEMPLATE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence pack {{ s.pack }}: {{ s.verdict }}</title><style>{{ css }}</style></head>
<body><main>
<h1>Readiness evidence pack: {{ s.pack }}</h1>
<div class="meta">Task: <b>{{ s.task or "unknown" }}</b>{% if s.task_inferred %} (inferred from the target){% endif %}
 &middot; target <code>{{ s.target }}</code>{% if s.rows %} &middot; rows: reference {{ "{:,}".format(s.rows.reference) }}, current {{ "{:,}".format(s.rows.current) }}{% endif %} &middot; playbook {{ s.playbook_version }}
{% if s.data_sample %}<br>Larger than <code>data.max_rows</code>: {% for role, smp in s.data_sample.items() %}the {{ role }} data's {{ "{:,}".format(smp.rows) }} rows were sampled to {{ "{:,}".format(smp.sample) }} (seed {{ smp.seed }}){% if not loop.last %}; {% endif %}{% endfor %} for the steps; the audit's statistics cover every row.{% endif %}
 &middot; <a href="summary.json">summary.json</a> &middot; <a href="manifest.json">manifest.json</a>
 &middot; <a href="config.yaml">config.yaml</a></div>
<div id="verdict" class="verdict v-{{ s.verdict }}">Verdict: {{ s.verdict | upper }}{% if s.partial %} (partial run){% endif %}</div>
<p>{{ verdict_text }}</p>
{% if s.reasons %}<h2 id="reasons">Why</h2><table><tr><th>reason</th><th>check</th><th>evidence</th></tr>
{% for r in reasons %}<tr><td>{{ r.text }}</td><td>{{ r.check or r.step or "" }}</td><td>{% for l in r.links %}<a href="{{ l.href }}"{% if not l.ok %} class="broken"{% endif %}>{{ l.label }}</a> {% endfor %}</td></tr>{% endfor %}</table>{% endif %}

<h2 id="scorecard">Scorecard</h2>
<div class="cards">{% for k, v in s.counts.items() %}<div class="card"><span class="s s-{{ k }}">{{ k }}</span><b>{{ v }}</b>checks</div>{% endfor %}</div>
{% if mts %}<h3 id="ml-test-score">ML Test Score (Breck et al., 2017): final {{ mts.final }}</h3>
<div class="cards">{% for sec, val in mts.sections.items() %}<div class="card">{{ sec }}<b>{{ val }}</b>of 7</div>{% endfor %}</div>
<details><summary>All {{ mts.tests|length }} tests</summary><table><tr><th>section</th><th>test</th><th>status</th><th>points</th><th>evidence</th></tr>
{% for t in mts.tests %}<tr><td>{{ t.section }}</td><td>{{ t.id }}: {{ t.title }}</td><td><span class="s s-{{ t.status }}">{{ t.status }}</span></td><td>{{ t.points }}</td><td>{{ (t.evidence or [])|join(", ") }}</td></tr>{% endfor %}</table></details>{% endif %}

{% if findings %}<h2 id="findings">Failed checks that do not block</h2>
<p class="why">These checks failed but no blocking gate covers them: read each one and decide, or make it a gate in policy.gates.</p>
<table><tr><th style="width:35%">check</th><th>step</th><th>value</th><th>why it matters</th></tr>
{% for c in findings %}<tr><td><code>{{ c.id }}</code><br>{{ c.title }}</td><td class="nw"><a href="#step-{{ c.step }}">{{ c.step }}</a></td><td class="nw">{{ c.value_text }}</td><td class="why">{{ c.why }}</td></tr>{% endfor %}</table>{% endif %}

<h2 id="gates">Gates</h2>
<p class="why">The policy's gates decide the verdict: a failing gate that blocks makes it no-go. Checks without a gate are findings for people to weigh.</p>
<table><tr><th style="width:30%">check (gate)</th><th>status</th><th>blocks</th><th>threshold</th><th style="width:18%">value</th><th style="width:30%">reason</th></tr>
{% for g in gates %}<tr><td><code>{{ g.check or g.gate }}</code>{% if g.check and g.check != g.gate %}<div class="why">via <code>{{ g.gate }}</code></div>{% endif %}</td><td><span class="s s-{{ g.css }}">{{ g.status }}</span></td><td class="nw">{{ "yes" if g.block else "no" }}</td><td class="nw">{{ g.threshold_text }}</td><td>{{ g.value_text }}</td><td>{{ g.reason }}</td></tr>{% endfor %}</table>
{% if na_gates %}<p class="why">Gates that do not apply to this pack: {% for m in na_gates %}<code>{{ m }}</code> {% endfor %}</p>{% endif %}

<h2 id="steps">Steps</h2>
{% for st in steps %}<section class="step" id="step-{{ st.name }}">
<h3>{{ st.dir }} <span class="s s-{{ st.status }}">{{ st.status }}</span></h3>
<div class="meta">{% if st.html %}<a href="{{ st.html }}">read the notebook</a> &middot; {% endif %}{% if st.notebook %}<a href="{{ st.notebook }}">notebook.ipynb</a> &middot; {% endif %}{% if st.results %}<a href="{{ st.results }}">results.json</a>{% endif %}{% if st.error %} &middot; <b>error:</b> {{ st.error }}{% endif %}</div>
{% if st.checks %}<table><tr><th style="width:34%">check</th><th>status</th><th style="width:26%">value</th><th style="width:16%">threshold</th><th>evidence</th></tr>
{% for c in st.checks %}<tr><td><code>{{ c.id }}</code><br>{{ c.title }}<div class="why">{{ c.why }}</div></td><td><span class="s s-{{ c.status }}">{{ c.status }}</span>{% if c.not_applicable %}<div class="why">not applicable</div>{% endif %}</td><td>{{ c.value_text }}</td><td>{{ c.threshold_text }}</td><td class="nw">{% for l in c.links %}<a href="{{ l.href }}"{% if not l.ok %} class="broken"{% endif %}>{{ l.label }}</a><br>{% endfor %}</td></tr>{% endfor %}</table>{% endif %}
</section>{% endfor %}

{% if model_card or documents %}<h2 id="model-card">Model card and documents</h2><ul>
{% if model_card %}<li><a href="{{ model_card.href }}">Model card</a> (Mitchell et al.): filled from this pack's evidence, with the parts only people can write marked as prompts</li>{% endif %}
{% for d in documents %}<li><a href="{{ d.href }}">{{ d.label }}</a></li>{% endfor %}</ul>{% endif %}
{% if cmap %}<h2 id="compliance">Compliance evidence map</h2><p class="why">{{ cmap.disclaimer }}</p>
<table><tr><th class="nw">framework</th><th style="width:18%">item</th><th style="width:40%">evidence in this pack</th><th>left to people</th></tr>
{% for it in cmap.rows %}<tr><td class="nw">{{ it.framework }}</td><td>{{ it.item }}</td><td class="why">{{ it.evidence }}</td><td class="why">{% if it.manual is string %}{{ it.manual }}{% else %}<ul>{% for m in it.manual %}<li>{{ m }}</li>{% endfor %}</ul>{% endif %}</td></tr>{% endfor %}</table>{% endif %}
<p class="meta">Integrity: run <code>playbook verify {{ s.pack }}</code> to recompute every file hash in manifest.json.</p>
</main></body></html>
""",
    autoescape=True,
)

_VERDICT_TEXT = {
    "go": "No blocking gate failed: the evidence supports releasing this model, subject to the human reviews listed in the model card and compliance map.",
    "no-go": "At least one blocking gate failed: do not release until the reasons below are addressed or the policy is changed on record.",
    "error": "At least one step could not run to the end, so the evidence is incomplete: fix the error shown for that step and run the pack again.",
    "incomplete": "The evidence is incomplete: a blocking gate has no check to judge (its step did not run, or the check was skipped or could not be computed), so the pack cannot support a release. Run the missing steps or fix the reasons below; do not read this as a go.",
}


def _compliance_rows(cmap: Any) -> dict | None:
    if not cmap:
        return None
    rows = []
    items = cmap.get("items") if isinstance(cmap, dict) else cmap
    for it in items or []:
        if not isinstance(it, dict):
            continue
        ev = it.get("evidence") or it.get("checks") or []
        arts = it.get("artifacts") or []
        manual = it.get("left_to_people") or it.get("manual") or ""
        rows.append({
            "framework": it.get("framework", ""),
            "item": " ".join(str(x) for x in (it.get("id", ""), it.get("title", "")) if x),
            "evidence": ", ".join(map(str, list(ev) + list(arts))) if isinstance(ev, list) else str(ev),
            "manual": [str(m) for m in manual] if isinstance(manual, list) else str(manual),
        })
    disclaimer = cmap.get("disclaimer", "") if isinstance(cmap, dict) else ""
    return {"rows": rows, "disclaimer": disclaimer or "A reviewer aid, not legal advice."}


def render_index(pack: Path, summary: dict) -> str:
    steps = []
    checks_by_step: dict[str, list] = {}
    for c in summary.get("checks", []):
        checks_by_step.setdefault(c.get("step"), []).append(c)
    for st in summary.get("steps", []):
        cs = []
        for c in checks_by_step.get(st["name"], []):
            cs.append({**c, "value_text": _fmt(c.get("value")), "threshold_text": _threshold_text(c.get("threshold")),
                       "links": _evidence_links(pack, st.get("dir"), c.get("evidence"))})
        steps.append({**st, "checks": cs})
    from playbook import catalogue

    gates = [{**g, "threshold_text": _threshold_text(g.get("threshold")),
              "value_text": _fmt(g.get("value")) + (f" (95% CI {_fmt(g['ci'][0])} to {_fmt(g['ci'][1])})"
                                                   if isinstance(g.get("ci"), list) and len(g["ci"]) == 2 else ""),
              "css": "na" if g["status"] == "n/a" else g["status"]}
             for g in summary.get("gates", []) if g["status"] != "n/a"]
    na_gates = [g["gate"] for g in summary.get("gates", []) if g["status"] == "n/a"]
    order = {"missing": 0, "error": 0, "skip": 0, "fail": 1, "warn": 2, "pass": 3}
    gates.sort(key=lambda g: (not g["block"], order.get(g["status"], 2), g["gate"], g.get("check") or ""))
    reasons = [{**r, "links": _evidence_links(pack, r.get("step_dir"), r.get("evidence"))}
               for r in summary.get("reasons", [])]
    blocking = {g["check"] for g in summary.get("gates", []) if g.get("block") and g["status"] == "fail"}

    def _meta(cid: str) -> bool:
        sp = catalogue.spec(cid)
        return bool(sp and sp.meta)

    findings = [{**c, "value_text": _fmt(c.get("value"))} for c in summary.get("checks", [])
                if c.get("status") == "fail" and c["id"] not in blocking and not _meta(c["id"])]
    mc = summary.get("model_card")
    model_card = None
    if isinstance(mc, str) and mc:
        model_card = {"href": mc, "label": Path(mc).name}
    documents = []
    labels = {"datasheet.html": "Datasheet for the data (Gebru et al.)", "scorecard.html": "Readiness scorecard",
              "ml_test_score.html": "ML Test Score, all 28 tests", "compliance_map.html": "Compliance evidence map"}
    for name, label in labels.items():
        for f in sorted(pack.glob(f"steps/*/artifacts/{name}")):
            documents.append({"href": f.relative_to(pack).as_posix(), "label": label})
    return _TEMPLATE.render(documents=documents,
        s=summary, css=_CSS, steps=steps, findings=findings, gates=gates, reasons=reasons, na_gates=na_gates,
        verdict_text=_VERDICT_TEXT.get(summary.get("verdict"), ""),
        mts=summary.get("ml_test_score"), model_card=model_card,
        cmap=_compliance_rows(summary.get("compliance_map")),
    )
