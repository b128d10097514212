"""Schema problems as an editor shows them: file:line:column, the path in the file, the rule it belongs to.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from myoivig.engine.errors import Problem
from myoivig.engine.model import KINDS
from myoivig.engine.schema_check import schema_kinds, schema_problems
from myoivig.engine.yamlio import read_yaml

HINT = "see engine/schema/knowledge_base.schema.json"


def _problems(tmp_path: Path, text: str, definition: str) -> list[Problem]:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    return schema_problems(read_yaml(path), definition, "f.yaml")


def test_a_problem_inside_a_rule_names_the_rule_and_points_at_the_bad_value(tmp_path: Path) -> None:
    """Sorted by path: the rule's own problems, then its title's (line 3), then its condition's (4:12);
    in a rule's words (the rule is named, so its field path is enough), not jsonschema's."""
    problems = _problems(tmp_path, "rules:\n  - id: a.b\n    title: T\n    when: {all: []}\n", "rule_file")
    assert [(p.line, p.column, p.message, p.rule, p.hint) for p in problems] == [
        (2, 5, "'provenance' is missing (needed here: id, title, when, provenance)", "a.b", HINT),
        (2, 5, "needs 'derive' or 'conclude' (at least one)", "a.b", HINT),
        (3, 5, "title: 'T' is too short (at least 3 characters)", "a.b", HINT),
        (4, 12, "when.all: [] should be non-empty", "a.b", HINT),
    ]
    assert str(problems[2]) == f"f.yaml:3:5: error [a.b]: title: 'T' is too short (at least 3 characters) - {HINT}"


def test_a_rule_that_is_not_a_mapping_or_has_no_string_id_names_no_rule(tmp_path: Path) -> None:
    """A list where a rule should be, or a numeric id: the problem is reported, with no rule to name."""
    [problem] = _problems(tmp_path, "rules:\n  - [1, 2]\n", "rule_file")
    assert (problem.line, problem.column, problem.message, problem.rule) == (
        2, 5, "rules[0]: [1, 2] is not a mapping (name: value lines)", None)
    numeric = _problems(tmp_path, "rules:\n  - id: 5\n    title: T\n", "rule_file")
    assert {p.rule for p in numeric} == {None}
    assert "rules[0].id: 5 is not text" in [p.message for p in numeric]


def test_top_level_problems_say_top_level_and_point_at_the_start(tmp_path: Path) -> None:
    """A document that is not a mapping is a problem at 1:1 of '(top level)'; a key too many is a
    '(top level)' problem at the key itself (4:1), where the editor must look."""
    [problem] = _problems(tmp_path, "- 1\n", "case_file")
    assert (problem.file, problem.line, problem.column, problem.message, problem.rule) == (
        "f.yaml", 1, 1, "(top level): [1] is not a mapping (name: value lines)", None)
    extra = _problems(tmp_path, "description: x\npatient: {}\nexpect: {verdict: 3}\nzzz: 1\n", "case_file")
    assert [(p.line, p.column, p.message.split(":")[0]) for p in extra] == [(4, 1, "(top level)"),
                                                                         (3, 10, "expect.verdict")]


def test_a_badly_named_key_is_pointed_at_itself(tmp_path: Path) -> None:
    """A fact name that breaks the naming pattern: the editor jumps to the key (4:3), not to `facts:`."""
    problems = _problems(tmp_path, "facts:\n  diagnosis:\n    type: bool\n  Bad Name:\n    type: bool\n",
                         "vocabulary_file")
    named = [p for p in problems if p.message.startswith("facts: ")]
    assert [(p.line, p.column, p.message) for p in named] == [
        (4, 3, "facts: 'Bad Name' is not a name here: lowercase letters, digits and '_', starting with a letter")]


FACT_FIELDS = list(json.loads((Path(__file__).resolve().parent.parent / "engine" / "schema" /
                              "knowledge_base.schema.json").read_text())["$defs"]["fact"]["properties"])


def test_only_problems_under_rules_name_a_rule() -> None:
    """A list elsewhere in a document (a fact's values) is not a rule, even beside a `rules` list."""
    document: dict[str, Any] = {"type": "enum", "values": [3], "meaning": "m", "question": "q?",
                                "rules": [{"id": "x.y"}]}
    problems = schema_problems(document, "fact", "v.yaml")
    assert [(p.message, p.rule) for p in problems] == [
        (f"(top level): 'rules' is not a field here; allowed: {', '.join(FACT_FIELDS)}", None),
        ("values[0]: 3 is not text", None)]


def test_a_valid_document_has_no_problems() -> None:
    """The schema is not a source of false alarms: a well-formed case is clean."""
    assert schema_problems({"description": "d", "patient": {"diagnosis": "DM"}, "expect": {"verdict": "indicated"}},
                           "case_file", "c.yaml") == []


def test_the_schema_lists_the_conclusion_kinds_in_its_order() -> None:
    """The kinds a rule may conclude, as the published schema gives them."""
    assert schema_kinds() == [kind.name for kind in KINDS]


def test_a_misspelt_kind_says_what_is_allowed_and_what_was_meant(tmp_path: Path) -> None:
    """`kind: cautoin` was raw jsonschema text; now the allowed kinds and a did-you-mean."""
    [problem] = _problems(tmp_path, "rules:\n  - id: a.b\n    title: Title\n    when: {x: true}\n    conclude:\n"
                          "      kind: cautoin\n      statement: Something said.\n    provenance:\n"
                          "      local_policy: A local policy of at least some length.\n", "rule_file")
    assert (problem.line, problem.rule) == (6, "a.b")
    assert problem.message.startswith("conclude.kind: 'cautoin' is not allowed here; allowed: ")
    assert problem.hint == "did you mean 'caution'?"
