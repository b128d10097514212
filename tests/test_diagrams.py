"""Decision graphs, compared as DOT text; the few tests that need `dot` are marked."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.diagrams import case_graph, graph_format, kb_graph, render_graph
from myoivig.engine import InputError, KnowledgeBase, consult, normalize
from myoivig.engine.explain import why_not
from myoivig.engine.patient import read_patient

from .builders import mask, structure
from .conftest import KB_DIR, ROOT

EARLY = KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"
MILD = KB_DIR / "cases" / "dm_mild_no_indication.yaml"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")


def consultation_of(kb: KnowledgeBase, path: Path):
    facts = normalize(kb, read_patient(path))
    return facts, consult(kb, facts)


def titles_masked(source: str) -> str:
    """A case graph's source with rule titles (and lines) masked: the golden is keyed by rule id."""
    return re.sub(r'(\t"rule__[\w.]+" \[label="[^"\\]*)\\n.*\\n(\[[^"]*")', r"\1\\n<title>\\n\2", mask(source))


def test_committed_overview_matches_the_rule_files(kb: KnowledgeBase) -> None:
    """A rule, fact or condition added or removed must be redrawn; a new title or a comment need not.

    Regenerate with: myoivig graph kb -o diagrams/knowledge_base.gv (and .svg for the README).
    """
    committed = structure((ROOT / "diagrams" / "knowledge_base.gv").read_text())
    assert committed == structure(kb_graph(kb).source)
    assert len(committed[0]) > len(kb.rules) and len(committed[1]) > len(kb.rules)


def test_kb_graph_draws_every_rule_fact_and_conclusion(kb: KnowledgeBase) -> None:
    source = kb_graph(kb).source
    for rule in kb.rules:
        assert f'"rule__{rule.id}" [label="{rule.id}\\n' in source
        if rule.conclude:
            assert f'"rule__{rule.id}" -> "conclusion__{rule.id}"' in source
    for name in kb.derived:
        assert re.search(rf'\n\t"?derived__{name}"? \[label=', source), name
    # tests of whether a fact is known are drawn apart from tests of its value
    assert 'fact__corticosteroid_contraindicated -> "rule__combination.corticosteroids"\n' in source
    assert 'fact__age_years -> "rule__scope.age_unknown" [label=unknown arrowhead=empty style=dotted]' in source
    assert "subgraph cluster_legend" in source and "subgraph cluster_cautions" in source
    assert 'tooltip="caution.iga_deficiency (rules/cautions.yaml:' in source


def test_negated_conditions_are_drawn_differently(kb_copy: Path) -> None:
    from myoivig.engine import load_knowledge_base
    rules = kb_copy / "rules" / "cautions.yaml"
    rules.write_text(rules.read_text().replace("    when:\n      age_years: {gt: 65}\n",
                                               "    when:\n      not: {age_years: {lte: 65}}\n"))
    source = kb_graph(load_knowledge_base(kb_copy)).source
    assert 'fact__age_years -> "rule__caution.renal_risk_age" [label=not arrowhead=odot style=dashed]' in source


def test_case_graph_is_exactly_the_reviewed_source(kb: KnowledgeBase, snapshot: Any) -> None:
    _, consultation = consultation_of(kb, EARLY)
    source = case_graph(kb, consultation).source
    assert titles_masked(source) == snapshot


def test_case_graph_with_why_not_is_exactly_the_reviewed_source(kb: KnowledgeBase, snapshot: Any) -> None:
    facts, consultation = consultation_of(kb, MILD)
    source = case_graph(kb, consultation, why_not(kb, facts, "indication.severe_or_rapidly_progressive")).source
    assert titles_masked(source) == snapshot
    assert 'fact__severity [label="severity = mild"' in source  # the failed fact, with its value
    assert 'x severity = severe' in source and '+ covered_diagnosis = true' in source


def test_case_graph_marks_cautions_and_the_dose(kb: KnowledgeBase) -> None:
    _, consultation = consultation_of(kb, EARLY)
    source = case_graph(kb, consultation).source
    assert '"conclusion__caution.thrombotic_risk" [label="!! CAUTION' in source
    assert "peripheries=2" in source
    assert 'ideal body weight (Devine, female) = 45.5 + 2.3' in source
    assert '"rule__dosing.ideal_body_weight" -> dose' in source
    order = [firing.rule for firing in consultation.trace].index("dosing.ideal_body_weight") + 1
    assert f'label="{order}. dosing.ideal_body_weight' in source


def test_dot_file_needs_no_dot_program(kb: KnowledgeBase, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` anywhere
    assert render_graph(kb_graph(kb), graph_format(tmp_path / "kb.dot")).startswith(b"digraph knowledge_base {")
    with pytest.raises(InputError) as caught:
        render_graph(kb_graph(kb), graph_format(tmp_path / "kb.svg"))
    assert "needs the graphviz `dot` program" in str(caught.value)
    assert "apt-get install graphviz" in str(caught.value)
    assert not (tmp_path / "kb.svg").exists()


def test_unknown_format_is_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["graph", "kb", "-o", str(tmp_path / "kb.jpeg")])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "cannot write a graph as 'jpeg'; allowed: dot, gv, svg, png, pdf" in result.stderr


def test_graph_case_cli_writes_dot(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "case.dot"
    result = runner.invoke(cli, ["graph", "case", str(MILD), "-o", str(out), "--why-not", "side_effects.common"])
    assert result.exit_code == 0
    assert result.output == f"decision graph written to {out}\n"
    assert '"whynot__side_effects.common"' in out.read_text()


def test_graph_case_bad_why_not(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["graph", "case", str(MILD), "-o", str(tmp_path / "c.dot"), "--why-not", "nope.nope"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert not (tmp_path / "c.dot").exists()


@needs_dot
@pytest.mark.dot
def test_svg_renders_and_holds_the_expected_nodes(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "case.svg"
    result = runner.invoke(cli, ["consult", str(EARLY), "--graph", str(out)])
    assert result.exit_code == 0 and result.output.startswith("IVIG: INDICATED")
    titles = {element.text for element in ET.parse(out).iter("{http://www.w3.org/2000/svg}title")}
    assert {"rule__dosing.ideal_body_weight", "derived__ivig_advised", "conclusion__caution.thrombotic_risk",
            "dose", "fact__dysphagia"} <= titles


@needs_dot
@pytest.mark.dot
def test_kb_svg_renders(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "kb.svg"
    assert runner.invoke(cli, ["graph", "kb", "-o", str(out)]).exit_code == 0
    titles = {element.text for element in ET.parse(out).iter("{http://www.w3.org/2000/svg}title")}
    assert "rule__evidence.inclusion_body_myositis" in titles and "cluster_monitoring" in titles
