"""The knowledge-engineering guide's examples load: a guide whose examples rot misleads."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from myoivig.engine import load_knowledge_base, normalize
from myoivig.engine.cases import Case, run_case

from .conftest import ROOT

GUIDE = ROOT / "docs" / "knowledge-engineering.md"


def examples() -> list[str]:
    """The guide's YAML examples, but not its walk-through's blocks (tests/test_walkthrough.py applies those)."""
    return re.findall(r"(?<!-->\n)```yaml\n(.*?)```", GUIDE.read_text(), flags=re.S)


def test_the_guide_has_examples() -> None:
    assert len(examples()) == 4


def test_rule_examples_validate_in_a_knowledge_base(kb_copy: Path) -> None:
    rule_examples = [text for text in examples() if text.startswith("rules:")]
    shipped = (kb_copy / "rules" / "cautions.yaml").read_text()
    for index, text in enumerate(rule_examples):
        if "caution.thrombotic_risk" in text:
            assert yaml.safe_load(text)["rules"][0] in yaml.safe_load(shipped)["rules"]
            continue
        (kb_copy / "rules" / f"guide_{index}.yaml").write_text(text)
    # the example deriving an existing fact duplicates a shipped rule: the validator says so
    kb, warnings = load_knowledge_base(kb_copy, with_warnings=True)
    assert any("redundant" in str(w) for w in warnings)
    assert kb.rule("scope.age_unknown_example").conclude.kind == "scope"


def test_case_example_runs(kb) -> None:
    [text] = [text for text in examples() if text.startswith("description:")]
    document = yaml.safe_load(text)
    result = run_case(kb, Case("guide", str(GUIDE), document["description"], document["patient"], document["expect"]))
    assert result.failures == []
    assert normalize(kb, document["patient"])["diagnosis"] == "dermatomyositis"
