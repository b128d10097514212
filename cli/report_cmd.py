"""`myoivig report`: one consultation as a self-contained HTML page, to file or print."""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from myoivig import __version__

from ..engine import consult, consultation_to_dict
from ..engine.advice import HELD_BACK, advise, amount, span
from ..engine.model import Consultation, KnowledgeBase
from ..engine.serialize import reading_to_dict
from .options import as_of_option, kb_option, load_kb, patient_input, set_option
from .output import write_outputs
from .render import DISCLAIMER

TEMPLATES = Path(__file__).parent / "templates"


def report_html(kb: KnowledgeBase, consultation: Consultation | None, patient_name: str,
                fhir: dict[str, Any] | None = None, read_as: Sequence[str] = (),
                template: str = "report.html", **extra: Any) -> str:
    """The page: the advice model rendered, hard stops and cautions boxed, the graph inline, all escaped.

    The web page (template page.html) renders the same advice, and a form; without a consultation, the form only.
    """
    context: dict[str, Any] = {"advice": None, "web": False}
    if consultation is not None:
        context.update(advice_context(kb, consultation, fhir))
    context.update(extra)
    page: str = templates().get_template(template).render(
        **context, labels={ref: r.label for ref, r in kb.references.items()}, specs=kb.facts,
        fhir=fhir, patient_name=patient_name, read_as=list(read_as), kb_name=kb.name, kb_version=kb.version,
        version=__version__, disclaimer=DISCLAIMER)
    return page


def advice_context(kb: KnowledgeBase, consultation: Consultation, fhir: dict[str, Any] | None) -> dict[str, Any]:
    """What the templates read of one consultation: the advice model, its JSON, the graph, the rules fired."""
    from ..diagrams import case_graph, render_graph

    advice = advise(kb, consultation)
    data = consultation_to_dict(kb, consultation)
    svg = render_graph(case_graph(kb, consultation), "svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # no XML prologue or DOCTYPE inside HTML
    svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', "<svg", svg, count=1)  # the page sizes it
    fired = dict.fromkeys(firing.rule for firing in consultation.trace)
    rules: list[dict[str, Any]] = []
    for rule_id in fired:
        rule = kb.rule(rule_id)
        rules.append({"id": rule.id, "title": rule.title, "file": rule.file, "line": rule.line,
                      "statement": rule.conclude.statement if rule.conclude else None,
                      "quotes": [{"ref": q.ref, "quote": q.quote} for q in rule.provenance.sources],
                      "local_policy": rule.provenance.local_policy})
    cited_refs = sorted({s["ref"] for c in data["conclusions"] for s in c["sources"]}
                        | {q["ref"] for r in rules for q in r["quotes"]}, key=lambda ref: (len(ref), ref))
    provenance: dict[str, list[Any]] = {}
    for evidence in (fhir or {}).get("provenance", []):
        provenance.setdefault(evidence["fact"], []).append(evidence)
    return {"advice": advice, "data": data, "svg": jinja2_markup(svg), "kb_svg": jinja2_markup(_kb_svg(kb)),
            "rules": rules, "provenance": provenance,
            "references": [{"ref": ref, **vars(kb.references[ref])} for ref in cited_refs]}


_KB_SVG: dict[str, str] = {}


def _kb_svg(kb: KnowledgeBase) -> str:
    """The whole knowledge base drawn once per knowledge base (by its sha256), for the report's on-demand view."""
    if kb.sha256 not in _KB_SVG:
        from ..diagrams import kb_graph, render_graph

        svg = render_graph(kb_graph(kb), "svg").decode("utf-8")
        svg = svg[svg.index("<svg"):]
        svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', "<svg", svg, count=1)
        _KB_SVG[kb.sha256] = svg.replace(' id="', ' id="kb-')  # no id the case graph also has
    return _KB_SVG[kb.sha256]


_NUMBER_UNIT = re.compile(r"(\(?[0-9][0-9.]*(?:-[0-9][0-9.]*)? (?:g/kg|g/day|g|kg|days|daily doses|months)\)?)")


@functools.cache
def templates() -> Any:
    """The Jinja2 environment of the report and the web page: autoescaped, strict about undefined names.

    Made once a process: compiling the templates costs four times what rendering one report does."""
    import jinja2
    from markupsafe import Markup, escape

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["g"] = lambda value: f"{value:g}"
    environment.filters["span"] = span
    environment.filters["shown"] = _shown
    environment.globals["held_back"] = HELD_BACK
    # a number never breaks from its unit, at any width
    environment.filters["regimen"] = lambda regimen: Markup(_NUMBER_UNIT.sub(
        r'<span class="num">\1</span>', str(escape(f"{span(regimen.g_per_kg)} g/kg = {amount(regimen)}"))))
    return environment


def jinja2_markup(svg: str) -> Any:
    """Graphviz escapes every label it writes, so its SVG goes in as markup."""
    from markupsafe import Markup

    return Markup(svg)


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)


@click.command("report", short_help="The consultation as one self-contained HTML page.")
@click.argument("patient")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write (- for standard output).")
@set_option
@as_of_option
@kb_option
def report_cmd(patient: str, output: Path, assignments: tuple[str, ...], as_of: dt.datetime | None,
               kb_dir: Path | None) -> None:
    """Write PATIENT's consultation (YAML, JSON, FHIR Bundle) as a page that needs no network."""
    kb = load_kb(kb_dir)
    given = patient_input(kb, patient, assignments, as_of.date() if as_of else None)
    consultation = consult(kb, given.facts)
    fhir = reading_to_dict(given.fhir) if given.fhir is not None else None
    html = report_html(kb, consultation, Path(patient).name, fhir, given.read_as)
    write_outputs([(output, html.encode("utf-8"))])
    if str(output) != "-":
        click.echo(f"report written to {output}", err=True)


COMMANDS = [report_cmd]
