"""Graph builders: the knowledge base, and one consultation's derivation, as graphviz.Digraph objects."""
from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import graphviz

from ..engine import conditions as cond
from ..engine.advice import advise, amount
from ..engine.conditions import show_value
from ..engine.explain import MARKS
from ..engine.model import KIND, Consultation, KnowledgeBase, Rule, cited

FONT = "Helvetica"

# Meaning by shape and line; the greys only help on screen.
STYLE: dict[str, dict[str, str]] = {
    "fact": {"shape": "box", "style": "rounded", "fillcolor": "white"},
    "rule": {"shape": "box", "style": "filled", "fillcolor": "#e4e4e4"},
    "policy_rule": {"shape": "box", "style": "filled,dashed", "fillcolor": "#f2f2f2"},
    "derived": {"shape": "ellipse", "style": "filled", "fillcolor": "#c8c8c8"},
    "conclusion": {"shape": "note", "style": "filled", "fillcolor": "white"},
    "caution": {"shape": "octagon", "style": "filled,bold", "fillcolor": "white", "penwidth": "3",
                "peripheries": "2"},
    "hard_stop": {"shape": "octagon", "style": "filled,bold", "fillcolor": "#b0b0b0", "penwidth": "4",
                  "peripheries": "3"},
    "warning": {"shape": "trapezium", "style": "filled", "fillcolor": "white"},
    "scope": {"shape": "hexagon", "style": "filled", "fillcolor": "white"},
    "dose": {"shape": "box", "style": "filled,bold", "fillcolor": "white", "penwidth": "2"},
    "not_reached": {"shape": "note", "style": "dashed", "color": "#777777", "fontcolor": "#555555"},
    "candidate": {"shape": "box", "style": "dashed", "color": "#777777", "fontcolor": "#555555"},
}
EDGE_TEST: dict[str, str] = {}
EDGE_NEGATED = {"style": "dashed", "arrowhead": "odot", "label": "not"}
EDGE_KNOWN = {"style": "dotted", "arrowhead": "empty"}
EDGE_DERIVES = {"penwidth": "2"}
EDGE_CONCLUDES = {"arrowhead": "vee"}
EDGE_CANDIDATE = {"style": "dashed", "color": "#777777", "arrowhead": "empty"}

CONCERNS = ("contraindications", "scope", "indication", "early_initiation", "warnings", "cautions",
            "combination", "preparation", "dosing", "side_effects", "monitoring")
"""Rule files (concerns) in the order the overview graph groups them."""


def wrap(text: str, width: int = 30) -> str:
    return "\\n".join(textwrap.wrap(text, width)) or text


def short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "..."


def _graph(name: str, title: str) -> graphviz.Digraph:
    graph = graphviz.Digraph(name)
    graph.attr(rankdir="LR", fontname=FONT, fontsize="12", labelloc="t", label=title,
               nodesep="0.25", ranksep="0.6", newrank="true")
    graph.attr("node", fontname=FONT, fontsize="10", margin="0.12,0.06")
    graph.attr("edge", fontname=FONT, fontsize="8", arrowsize="0.7")
    return graph


def _cite(kb: KnowledgeBase, rule: Rule) -> str:
    tags = [f"[{ref}]" for ref in cited(rule.provenance.sources)]
    if rule.provenance.local_policy:
        tags.append("[local policy]")
    return " ".join(tags)


def _tooltip(kb: KnowledgeBase, rule: Rule) -> str:
    parts = [f"[{q.ref}] {kb.references[q.ref].label} ({kb.references[q.ref].evidence}; "
             f"{kb.references[q.ref].confidence}): \"{q.quote}\"" for q in rule.provenance.sources]
    if rule.provenance.local_policy:
        parts.append(f"[local policy] {rule.provenance.local_policy}")
    return f"{rule.id} ({rule.where})\\n" + "\\n".join(parts)


def _rule_style(rule: Rule) -> dict[str, str]:
    return STYLE["rule" if rule.provenance.sources else "policy_rule"]


def _conclusion_style(rule: Rule) -> dict[str, str]:
    return STYLE[KIND[rule.conclude.kind].style if rule.conclude else "conclusion"]


def _conclusion_label(kb: KnowledgeBase, rule: Rule, limit: int = 90) -> str:
    assert rule.conclude is not None
    kind = rule.conclude.kind
    prefix = {"caution": "!! CAUTION\\n", "contraindication": "XX HARD STOP\\n"}.get(
        kind, f"{kind.replace('_', ' ')}\\n")
    return prefix + wrap(short(rule.conclude.statement, limit), 32) + "\\n" + _cite(kb, rule)


def _concern(rule: Rule) -> str:
    return Path(rule.file).stem


def _edges_in(rule: Rule) -> list[tuple[str, dict[str, str]]]:
    """One edge per fact the rule tests: plain, negated, or a test of whether it is known."""
    negated = {id(t) for t in cond.negated_tests(rule.when)}
    edges: dict[str, dict[str, str]] = {}
    for test in cond.tests(rule.when):
        style = EDGE_KNOWN if test.op == "known" else EDGE_NEGATED if id(test) in negated else EDGE_TEST
        if test.op == "known":
            style = dict(EDGE_KNOWN, label="known" if test.value != (id(test) in negated) else "unknown")
        edges.setdefault(test.fact, dict(style))
    return list(edges.items())


def _legend(graph: graphviz.Digraph, entries: Iterable[tuple[str, str]]) -> None:
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="Legend", style="rounded", fontsize="10")
        previous = None
        for key, text in entries:
            node = f"legend_{key}"
            legend.node(node, text, **STYLE[key])
            if previous:
                legend.edge(previous, node, style="invis")
            previous = node


def kb_graph(kb: KnowledgeBase) -> graphviz.Digraph:
    """Every rule: input facts -> rules -> derived facts -> conclusions, grouped by concern."""
    graph = _graph("knowledge_base", f"{kb.name} {kb.version}: input facts -> rules -> derived facts -> conclusions")
    used = sorted({t.fact for rule in kb.rules for t in cond.tests(rule.when) if t.fact in kb.facts},
                  key=list(kb.facts).index)
    with graph.subgraph(name="cluster_facts") as facts:
        facts.attr(label="Patient facts", style="rounded", rank="same")
        for name in used:
            facts.node(f"fact__{name}", name, **STYLE["fact"])
    for name in kb.derived:
        graph.node(f"derived__{name}", wrap(name.replace("_", " "), 22), **STYLE["derived"],
                   tooltip=kb.derived[name].meaning)
    by_concern: dict[str, list[Rule]] = {}
    for rule in sorted(kb.rules, key=lambda r: (r.file, r.line)):
        by_concern.setdefault(_concern(rule), []).append(rule)
    for concern in sorted(by_concern, key=lambda c: CONCERNS.index(c) if c in CONCERNS else len(CONCERNS)):
        with graph.subgraph(name=f"cluster_{concern}") as cluster:
            cluster.attr(label=concern.replace("_", " ").capitalize(), style="rounded")
            for rule in by_concern[concern]:
                label = f"{rule.id}\\n{wrap(rule.title, 30)}\\n{_cite(kb, rule)}"
                cluster.node(f"rule__{rule.id}", label, tooltip=_tooltip(kb, rule), **_rule_style(rule))
                if rule.conclude:
                    cluster.node(f"conclusion__{rule.id}", _conclusion_label(kb, rule, 70), **_conclusion_style(rule))
    for rule in kb.rules:
        for fact, style in _edges_in(rule):
            source = f"derived__{fact}" if fact in kb.derived else f"fact__{fact}"
            graph.edge(source, f"rule__{rule.id}", **style)
        for name in rule.derive:
            graph.edge(f"rule__{rule.id}", f"derived__{name}", **EDGE_DERIVES)
        if rule.conclude:
            graph.edge(f"rule__{rule.id}", f"conclusion__{rule.id}", **EDGE_CONCLUDES)
    _legend(graph, [("fact", "input fact"), ("rule", "rule [ref]"), ("policy_rule", "rule: local policy only"),
                    ("derived", "derived fact"), ("conclusion", "conclusion"), ("caution", "!! caution"),
                    ("hard_stop", "XX hard stop"), ("warning", "check the facts"), ("scope", "outside scope")])
    with graph.subgraph(name="cluster_legend_edges") as edges:
        edges.attr(label="Conditions", style="rounded", fontsize="10")
        for index, (text, style) in enumerate([("tests", EDGE_TEST), ("tests NOT", EDGE_NEGATED),
                                               ("known / unknown", dict(EDGE_KNOWN, label="known")),
                                               ("derives", EDGE_DERIVES)]):
            edges.node(f"legend_edge_{index}_a", "", shape="point")
            edges.node(f"legend_edge_{index}_b", text, shape="plaintext")
            edges.edge(f"legend_edge_{index}_a", f"legend_edge_{index}_b", **style)
    return graph


def case_graph(kb: KnowledgeBase, consultation: Consultation, why_not: Any = None) -> graphviz.Digraph:
    """The derivation of one consultation: facts -> fired rules (in order) -> conclusions and dose.

    Its title is the advice's headline and the regimen to give, as every other surface says them."""
    advice = advise(kb, consultation)
    give = f"; give {amount(advice.dose.give)}" if advice.dose else ""
    graph = _graph("consultation", f"Consultation: IVIG {advice.spec.headline}{give}")
    inputs: dict[str, Any] = {}
    for firing in consultation.trace:
        for fact in firing.matched:
            if fact.origin == "input":
                inputs.setdefault(fact.name, fact.value)
    with graph.subgraph(name="cluster_facts") as facts:
        facts.attr(label="Patient facts used", style="rounded", rank="same")
        for name, value in inputs.items():
            facts.node(f"fact__{name}", f"{name} = {show_value(value)}", **STYLE["fact"])
    derived_nodes: set[str] = set()
    for firing in consultation.trace:
        rule = kb.rule(firing.rule)
        node = f"rule__{rule.id}"
        graph.node(node, f"{firing.order}. {rule.id}\\n{wrap(rule.title, 30)}\\n{_cite(kb, rule)}",
                   tooltip=_tooltip(kb, rule), **_rule_style(rule))
        for fact in firing.matched:
            if fact.origin == "derived":
                graph.edge(f"derived__{fact.name}", node)
            else:
                graph.edge(f"fact__{fact.name}", node)
        for name in firing.asserted:
            derived_nodes.add(name)
            graph.node(f"derived__{name}", wrap(name.replace("_", " "), 22), **STYLE["derived"])
            graph.edge(node, f"derived__{name}", **EDGE_DERIVES)
        if rule.conclude:
            graph.node(f"conclusion__{rule.id}", _conclusion_label(kb, rule), **_conclusion_style(rule))
            graph.edge(node, f"conclusion__{rule.id}", **EDGE_CONCLUDES)
    if consultation.dose is not None:
        dose = consultation.dose
        lines = ["DOSE"] + [line for step in dose.arithmetic for line in textwrap.wrap(step, 48)]
        graph.node("dose", "\\l".join(lines) + "\\l", **STYLE["dose"])
        for rule_id in dose.rules:
            graph.edge(f"rule__{rule_id}", "dose", style="dashed", arrowhead="vee")
    elif consultation.dose_note and "ivig_advised" in consultation.derived:
        graph.node("dose", wrap(consultation.dose_note, 40), **STYLE["not_reached"])
    if why_not is not None:
        present = {f"fact__{name}" for name in inputs} | {f"derived__{name}" for name in derived_nodes}
        _why_not(kb, graph, why_not, None, consultation.patient, present)
    shown = {"fact", "rule", "derived"} | {KIND[c.kind].style for c in consultation.conclusions} | {
        "policy_rule" for f in consultation.trace if _rule_style(kb.rule(f.rule)) is STYLE["policy_rule"]}
    _legend(graph, [entry for entry in CASE_LEGEND if entry[0] in shown])
    return graph


CASE_LEGEND = (("fact", "patient fact"), ("rule", "n. rule fired [ref]"), ("policy_rule", "rule: local policy only"),
               ("derived", "derived fact"), ("conclusion", "conclusion"), ("caution", "!! caution"),
               ("hard_stop", "XX hard stop"), ("warning", "check the facts"), ("scope", "scope"))
"""The case graph's legend: only the shapes the graph shows."""


def _why_not(kb: KnowledgeBase, graph: graphviz.Digraph, answer: Any, target_node: str | None,
             patient: Any, present: set[str]) -> None:
    """Grey, dashed: the rules that could have reached the target, with failed (x) and unknown (?) tests."""
    if target_node is None:
        prefix = "derived" if answer.kind == "derived fact" else "conclusion"
        target_node = f"{prefix}__{answer.target}"
        if not answer.reached:
            graph.node(target_node, f"NOT REACHED\\n{answer.target}", **STYLE["not_reached"])
    for check in answer.candidates:
        if check.fired:
            continue
        lines = [f"why not: {check.rule}"] + [f"{MARKS[c.status]} {c.description}" for c in check.conditions]
        node = f"whynot__{check.rule}"
        graph.node(node, "\\l".join(lines) + "\\l", **STYLE["candidate"])
        graph.edge(node, target_node, **EDGE_CANDIDATE)
        for condition in check.conditions:
            if condition.fact in kb.derived:
                source = f"derived__{condition.fact}"
                if source not in present:
                    continue  # its own why-not node explains it
            else:
                source = f"fact__{condition.fact}"
                if source not in present:
                    present.add(source)
                    graph.node(source, f"{condition.fact} = {show_value(patient.get(condition.fact))}",
                               **STYLE["fact"], color="#777777", fontcolor="#555555")
            graph.edge(source, node, **EDGE_CANDIDATE)
        for need in check.needs:
            _why_not(kb, graph, need, node, patient, present)
