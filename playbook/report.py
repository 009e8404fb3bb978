"""Rendering for readers: executed notebooks to HTML (code hidden) and the pack's index.html.

index.html is built by :mod:`playbook.page` (:func:`render_index` delegates): self-contained (inline CSS, figures as
``data:`` URIs, no script, no network), opening with an executive summary (verdict, blocking reasons with what to do
next, the numbers that decide a launch, the key figures), then the gates, every check grouped by step, the ML Test
Score and the documents.

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


def render_index(pack: Path, summary: dict) -> str:
    """The pack's index.html (see :mod:`playbook.page`: executive summary first, then gates, checks by step, the ML
    Test Score and the documents)."""
    from playbook import page

    return page.render(pack, summary)
