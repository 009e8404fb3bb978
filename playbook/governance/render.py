"""Markdown building blocks for the generated documents and their self-contained HTML rendering."""

from __future__ import annotations

import html
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from playbook.governance.evidence import fmt_value

PROMPT_MARK = "✍ To be completed by a person:"

_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;
line-height:1.5;margin:0;background:#f6f8fa}
main{max-width:980px;margin:0 auto;padding:24px 32px;background:#fff;min-height:100vh}
h1{border-bottom:2px solid #d0d7de;padding-bottom:6px}h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px;width:100%}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
code{background:#eff1f3;padding:1px 4px;border-radius:4px;font-size:90%}
blockquote{margin:8px 0;padding:6px 12px;border-left:4px solid #d0d7de;color:#57606a}
blockquote.prompt{border-left:4px solid #bf8700;background:#fff8c5;color:#3b2300}
.note{border-left-color:#0969da;background:#ddf4ff;color:#0a3069}
a{color:#0969da}
"""


def esc(text: Any) -> str:
    """Escape a value for a Markdown table cell or paragraph (HTML-escaped, pipes and newlines removed)."""
    s = fmt_value(text) if not isinstance(text, str) else text
    s = html.escape(s, quote=False)
    return s.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def table(headers: list[str], rows: Iterable[Iterable[Any]], raw_columns: Iterable[int] = ()) -> str:
    """A Markdown table; cells are escaped unless their column index is in ``raw_columns``."""
    raw = set(raw_columns)
    out = ["| " + " | ".join(esc(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    n = 0
    for r in rows:
        cells = [str(c) if i in raw else esc(c) for i, c in enumerate(r)]
        out.append("| " + " | ".join(cells) + " |")
        n += 1
    if n == 0:
        return "_(none)_"
    return "\n".join(out)


def link(label: str, target: str) -> str:
    return f"[{esc(label)}]({target.replace(' ', '%20')})"


def relpath(target: str, base: str) -> str:
    """``target`` (root-relative) as seen from the folder ``base`` (root-relative)."""
    return posixpath.relpath(target, base or ".")


@dataclass
class Doc:
    """A Markdown document under construction that counts its filled sections and human prompts."""

    title: str
    parts: list[str] = field(default_factory=list)
    prompts: int = 0
    sections: list[str] = field(default_factory=list)
    filled: dict[str, int] = field(default_factory=dict)
    _current: str | None = None

    def h2(self, text: str) -> None:
        self.parts.append(f"## {text}")
        self.sections.append(text)
        self.filled[text] = 0
        self._current = text

    def h3(self, text: str) -> None:
        self.parts.append(f"### {text}")

    def p(self, text: str, *, evidence: bool = True) -> None:
        """A paragraph of generated content (counts as filled from evidence unless ``evidence=False``)."""
        self.parts.append(text)
        if evidence and self._current:
            self.filled[self._current] += 1

    def prompt(self, text: str) -> None:
        """A clearly marked question only a person can answer."""
        self.parts.append(f"> **{PROMPT_MARK}** {text}")
        self.prompts += 1

    def note(self, text: str) -> None:
        """A statement about missing evidence (e.g. a step that did not run)."""
        self.parts.append(f"> ℹ {text}")

    def markdown(self) -> str:
        return f"# {self.title}\n\n" + "\n\n".join(self.parts) + "\n"

    def stats(self) -> dict:
        return {"sections": len(self.sections), "filled_from_evidence": sum(1 for v in self.filled.values() if v),
                "human_prompts": self.prompts}


def markdown_to_html(md: str, title: str) -> str:
    """Render Markdown into a self-contained HTML page (no external resources)."""
    import mistune

    render = mistune.create_markdown(escape=False, plugins=["table", "strikethrough"])
    body = render(md)
    body = body.replace("<blockquote>\n<p><strong>" + html.escape(PROMPT_MARK, quote=False),
                        "<blockquote class=\"prompt\">\n<p><strong>" + html.escape(PROMPT_MARK, quote=False))
    body = body.replace("<blockquote>\n<p>ℹ", "<blockquote class=\"note\">\n<p>ℹ")
    body = re.sub(r"<a href=\"(?!https?:|#|mailto:)([^\"]+)\"", r'<a href="\1"', body)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body><main>\n{body}</main></body></html>\n")
