"""A broken knowledge base never gives advice: it fails with file, line and what to fix."""
from __future__ import annotations

from pathlib import Path

import pytest

from .builders import edit, line_of, problems_of


def test_unknown_fact_with_did_you_mean(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "cautions.yaml"
    edit(rules, "      thrombotic_risk: true\n    conclude:\n      kind: caution\n      statement: Use",
         "      thrombotic_rsik: true\n    conclude:\n      kind: caution\n      statement: Use")
    line = line_of(rules, "      thrombotic_rsik: true")
    assert problems_of(kb_copy) == [
        f"knowledge_base/rules/cautions.yaml:{line}:7: error [caution.thrombotic_risk]: unknown fact "
        "'thrombotic_rsik' - did you mean 'thrombotic_risk'?"]


def test_duplicate_yaml_key_is_an_error(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "side_effects.yaml"
    edit(rules, "\n    when:\n      ivig_advised: true\n    conclude:\n      kind: side_effects\n      statement: Watch",
         "\n    title: Again\n    when:\n      ivig_advised: true\n    conclude:\n      kind: side_effects\n      statement: Watch")
    line = line_of(rules, "    title: Again")
    assert problems_of(kb_copy) == [
        f"knowledge_base/rules/side_effects.yaml:{line}:5: error: duplicate key 'title' (first given at line {line - 1})"]


def test_quote_must_be_verbatim(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "side_effects.yaml", "including headache, fever", "including headaches, fever")
    [problem] = problems_of(kb_copy)
    line = line_of(kb_copy / "rules" / "side_effects.yaml", "  - id: side_effects.common")
    assert problem.startswith(f"knowledge_base/rules/side_effects.yaml:{line}:1: error [side_effects.common]: "
                              "the quote for [1] is not in the source document word for word")


def test_negation_over_a_derived_fact_is_refused(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "side_effects.yaml", "    when:\n      ivig_advised: true\n",
         "    when:\n      not: {ivig_advised: true}\n")
    [problem] = problems_of(kb_copy)
    assert "negation over the derived fact 'ivig_advised' cannot be evaluated soundly" in problem


def test_cycle_between_derived_facts(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "indication.yaml", "        - severity: severe\n",
         "        - severity: severe\n        - indication_met: true\n")
    found = problems_of(kb_copy)
    assert any("derived facts form a cycle" in p for p in found)


def test_schema_violation_is_located(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "monitoring.yaml"
    edit(rules, "      kind: monitoring\n      statement: >-\n        Monitor the response",
         "      kind: monitor\n      statement: >-\n        Monitor the response")
    [problem] = problems_of(kb_copy)
    line = line_of(rules, "      kind: monitor")
    assert problem.startswith(f"knowledge_base/rules/monitoring.yaml:{line}:")
    assert "[monitoring.treatment_response]" in problem and "'monitor' is not allowed here" in problem
    assert problem.endswith("did you mean 'monitoring'?")


def test_malformed_yaml(kb_copy: Path) -> None:
    (kb_copy / "rules" / "scope.yaml").write_text("rules:\n  - id: [oops\n")
    [problem] = problems_of(kb_copy)
    assert problem.startswith("knowledge_base/rules/scope.yaml:3:1: error: malformed YAML")


def test_duplicate_rule_id(kb_copy: Path) -> None:
    line = line_of(kb_copy / "rules" / "side_effects.yaml", "  - id: side_effects.common")
    edit(kb_copy / "rules" / "side_effects.yaml", "  - id: side_effects.prevention", "  - id: side_effects.common")
    assert any(f"duplicate rule id (first defined at rules/side_effects.yaml:{line})" in p
               for p in problems_of(kb_copy))


def test_not_a_folder(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "absent") == [
        "absent:1:1: error: not a knowledge-base folder - expected vocabulary.yaml, "
        "sources.yaml and rules/*.yaml"]


@pytest.mark.parametrize("threshold", ["1.0e-7", "6.001", "0.0000001"])
def test_a_threshold_finer_than_patient_numbers_is_refused(kb_copy: Path, threshold: str) -> None:
    rules = kb_copy / "rules" / "early_initiation.yaml"
    edit(rules, "        - months_since_diagnosis: {lte: 6}", f"        - months_since_diagnosis: {{lte: {threshold}}}")
    line = line_of(rules, f"        - months_since_diagnosis: {{lte: {threshold}}}")
    [problem] = problems_of(kb_copy)
    assert problem.startswith(f"knowledge_base/rules/early_initiation.yaml:{line}:11: error "
                              "[early_initiation.within_early_window]: threshold ")
    assert "more than 2 decimal places or an exponent" in problem


def test_an_inverted_range_is_refused(kb_copy: Path) -> None:
    vocabulary = kb_copy / "vocabulary.yaml"
    edit(vocabulary, "    range: [2, 350]", "    range: [350, 2]")
    line = line_of(vocabulary, "    range: [350, 2]")
    assert problems_of(kb_copy) == [
        f"knowledge_base/vocabulary.yaml:{line}:5: error: the range of 'weight_kg' is inverted: "
        "350 is above 2 - write [lowest, highest]"]


def test_the_weight_formula_must_cover_every_sex(kb_copy: Path) -> None:
    """Found by the loader fuzz: a misspelt value of sex made the dose arithmetic crash."""
    edit(kb_copy / "vocabulary.yaml", "values: [female, male]", "values: [emale, male]")
    [problem] = problems_of(kb_copy)
    assert "error [dosing.ideal_body_weight]: base_kg gives weights for female, male, but 'sex' takes emale, male" in problem


def test_a_reference_that_is_not_a_number_is_refused(kb_copy: Path) -> None:
    sources = kb_copy / "sources.yaml"
    edit(sources, '  "6":\n', '  "x1":\n')
    line = line_of(sources, '  "x1":')
    found = problems_of(kb_copy)
    assert f"knowledge_base/sources.yaml:{line}:3: error: references: 'x1' does not match '^[1-9][0-9]*$'" in found[0]
