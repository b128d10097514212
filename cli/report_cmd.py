"""`myoivig report`: one consultation as a self-contained HTML page, to file or print."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import click

from . import __version__
from .engine import consult, consultation_to_dict
from .engine.fhir import reading_to_dict
from .engine.model import VERDICTS, Consultation, KnowledgeBase
from .options import as_of_option, kb_option, load_kb, patient_input, set_option
from .output import write_outputs
from .render import DISCLAIMER

TEMPLATES = Path(__file__).parent / "templates"


def report_html(kb: KnowledgeBase, consultation: Consultation, patient_name: str,
                fhir: dict[str, Any] | None = None) -> str:
    """The page: verdict first, hard stops and cautions boxed, the graph inline, everything escaped."""
    import jinja2

    from .diagrams import case_graph, render_graph

    data = consultation_to_dict(kb, consultation)
    svg = render_graph(case_graph(kb, consultation), "svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # no XML prologue or DOCTYPE inside HTML
    svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', "<svg", svg, count=1)  # the page sizes it
    by_kind: dict[str, list[Any]] = {}
    for conclusion in data["conclusions"]:
        by_kind.setdefault(conclusion["kind"], []).append(conclusion)
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
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["g"] = lambda value: f"{value:g}"
    environment.filters["shown"] = _shown
    return environment.get_template("report.html").render(
        data=data, summary=data["summary"], verdict=VERDICTS[consultation.verdict.value], dose=data["dose"],
        by_kind={kind: by_kind.get(kind, []) for kind in (
            "contraindication", "scope", "indication", "evidence", "warning", "caution", "early_initiation",
            "dosing", "combination", "side_effects", "monitoring")},
        stops=by_kind.get("contraindication", []), cautions=by_kind.get("caution", []),
        svg=jinja2_markup(svg), rules=rules, fhir=fhir, provenance=provenance, patient_name=patient_name,
        references=[{"ref": ref, **vars(kb.references[ref])} for ref in cited_refs],
        version=__version__, disclaimer=DISCLAIMER)


def jinja2_markup(svg: str) -> Any:
    """Graphviz escapes every label it writes, so its SVG goes in as markup."""
    from markupsafe import Markup

    return Markup(svg)


def _shown(value: Any) -> str:
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
    html = report_html(kb, consultation, Path(patient).name, fhir)
    write_outputs([(output, html.encode("utf-8"))])
    if str(output) != "-":
        click.echo(f"report written to {output}", err=True)


COMMANDS = [report_cmd]
