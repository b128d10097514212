"""The knowledge engineer's silent traps, each caught with file:line by `kb validate` or `kb diff --exit-code`.

Each test edits a copy of the shipped knowledge base as an author would (a rule appended, a threshold
changed) and reads what the workbench says. What the edits touch is found in the loaded knowledge base,
never pinned here.
"""
from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import conditions as cond
from myoivig.engine import consult, load_knowledge_base, normalize
from myoivig.engine.dose import advised_dose, compute_dose

from .conftest import KB_DIR

LOCAL = "      local_policy: A rule a knowledge engineer added while trying the workbench out.\n"


def validate(kb_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["kb", "validate", "--kb", str(kb_dir)])
    return result.exit_code, result.output


def append_rule(path: Path, text: str) -> int:
    """Append a rule to a rule file; the line its `- id:` stands on."""
    before = path.read_text()
    path.write_text(before.rstrip("\n") + "\n\n" + text)
    return len((before.rstrip("\n") + "\n\n").splitlines()) + 1


def test_a_second_preferred_regimen_that_can_hold_with_the_first_is_an_error(kb_copy: Path) -> None:
    """Two rules preferring a regimen for one patient: the dose would depend on firing order (the last fired
    rule won: a renal, elderly patient could get 2 g/kg over 2 days). Refused, at the later rule."""
    kb = load_knowledge_base(KB_DIR)
    first = next(rule for rule in kb.rules if rule.dose and "prefer_g_per_kg" in rule.dose)
    dosing = kb_copy / Path(first.file).relative_to(Path(first.file).parents[1])
    line = append_rule(dosing, "  - id: dosing.elderly_fast\n    title: Elderly, fast\n    when:\n      all:\n"
                               "        - ivig_advised: true\n        - age_years: {gte: 70}\n    conclude:\n"
                               "      kind: dosing\n      statement: Give 2 g/kg over 5 days.\n    dose:\n"
                               "      prefer_g_per_kg: 2\n      prefer_daily_doses: 5\n    provenance:\n" + LOCAL)
    code, output = validate(kb_copy)
    assert code == 3
    assert re.search(rf"{dosing.name}:{line}:1: error \[dosing.elderly_fast\]: gives the dose's 'prefer_g_per_kg' "
                     rf"like '{re.escape(first.id)}' .*both can hold for one patient \(e.g. .*age_years >= 70", output)


def test_a_rule_that_advises_ivig_past_a_hard_stop_is_an_error_naming_it(kb_copy: Path) -> None:
    """`ivig_advised` derived from `anti_iga_antibodies: true` once gave CONTRAINDICATED and a dose: now the
    knowledge base does not load, and the rule that tried is named at its line."""
    kb = load_knowledge_base(KB_DIR)
    stop = next(rule for rule in kb.rules if rule.conclude and rule.conclude.kind == "contraindication")
    stop_test = next(cond.tests(stop.when))
    rules = kb_copy / Path(stop.file).relative_to(Path(stop.file).parents[1])
    line = append_rule(rules, f"  - id: finding.advised_anyway\n    title: Advised anyway\n    when:\n"
                              f"      {stop_test.fact}: {str(stop_test.value).lower()}\n    derive: [ivig_advised]\n"
                              "    provenance:\n" + LOCAL)
    code, output = validate(kb_copy)
    assert code == 3
    assert f"{rules.name}:{line}:1: error [finding.advised_anyway]: lets IVIG advice hold for a patient with a " \
           f"hard stop ('{stop.id}'" in output
    assert "a contraindicated patient would be given" in output


def test_the_verdict_withholds_the_dose_from_a_contraindicated_patient_whatever_fired(kb: object) -> None:
    """The precedence is code: with every dosing rule counted as fired, a contraindicated verdict gives no
    dose, where the arithmetic alone would give one."""
    from myoivig.engine.model import KnowledgeBase
    assert isinstance(kb, KnowledgeBase)
    facts = normalize(kb, {"diagnosis": "dermatomyositis", "severity": "severe", "sex": "female", "height_cm": 165,
                           "weight_kg": 70, "age_years": 50})
    dosing = [rule.id for rule in kb.rules if rule.dose is not None]
    assert compute_dose(kb, dosing, facts) is not None
    assert advised_dose(kb, "contraindicated", dosing, facts) is None
    assert advised_dose(kb, "indicated", dosing, facts) == compute_dose(kb, dosing, facts)
    assert consult(kb, facts).dose is not None  # the same patient, indicated, is dosed


def _window(kb_dir: Path) -> tuple[Path, int, cond.Test]:
    """A rule's `<=` threshold on a number with a unit that its own words state ("6 months or less")."""
    kb = load_knowledge_base(kb_dir)
    for rule in kb.rules:
        words = f"{rule.title} {rule.conclude.statement if rule.conclude else ''}"
        for test in cond.tests(rule.when):
            unit = kb.facts[test.fact].unit if test.fact in kb.facts else None
            if test.op == "lte" and unit and re.search(rf"\b{cond.show_value(test.value)}\s*-?\s*{unit.rstrip('s')}",
                                                        words):
                return kb_dir / Path(rule.file).relative_to(Path(rule.file).parents[1]), test.line, test
    raise AssertionError("no windowed rule in the shipped knowledge base")


def test_a_one_sided_threshold_edit_is_warned_and_shows_in_kb_diff(kb_copy: Path) -> None:
    """`{lte: 6}` made `{lte: 12}`: validate warns at the test (its words still say 6), and `kb diff
    --exit-code` fails, because its population now sweeps every threshold (it said "0 changed")."""
    path, line, test = _window(kb_copy)
    lines = path.read_text().splitlines(keepends=True)
    wider = cond.exact_number(float(test.value) * 2)
    old = f"{{lte: {cond.show_value(test.value)}}}"
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, f"{{lte: {cond.show_value(wider)}}}")
    path.write_text("".join(lines))
    code, output = validate(kb_copy)
    assert code == 0
    assert f"{path.name}:{line}:{test.column}: warning" in output
    assert f"tests {test.fact} <= {cond.show_value(wider)}, but its title or statement says" in output
    diff = CliRunner().invoke(cli, ["kb", "diff", str(KB_DIR), str(kb_copy), "--exit-code", "--population", "0"])
    assert diff.exit_code == 1
    assert re.search(rf"case \S+, {test.fact} = {re.escape(cond.show_value(cond.exact_number(float(test.value) + 0.01)))}:",
                     diff.output)


def test_form_and_meaning_problems_come_in_one_round_sorted_with_did_you_mean(kb_copy: Path) -> None:
    """A misspelt kind (form) and a misspelt fact (meaning) in one run, in line order, each with its
    suggestion; before, the meaning problem appeared only once the form was fixed."""
    kb = load_knowledge_base(KB_DIR)
    caution = next(rule for rule in kb.rules if rule.conclude and rule.conclude.kind == "caution")
    path = kb_copy / Path(caution.file).relative_to(Path(caution.file).parents[1])
    lines = path.read_text().splitlines(keepends=True)
    kind_line = next(n for n in range(caution.line, len(lines) + 1) if lines[n - 1].strip() == "kind: caution")
    lines[kind_line - 1] = lines[kind_line - 1].replace("kind: caution", "kind: cautoin")
    other = next(rule for rule in kb.rules if rule.file != caution.file and rule.conclude)
    other_path = kb_copy / Path(other.file).relative_to(Path(other.file).parents[1])
    other_test = next(t for t in cond.tests(other.when) if t.fact in kb.facts)
    other_lines = other_path.read_text().splitlines(keepends=True)
    other_lines[other_test.line - 1] = other_lines[other_test.line - 1].replace(other_test.fact,
                                                                                other_test.fact + "x", 1)
    path.write_text("".join(lines))
    other_path.write_text("".join(other_lines))
    code, output = validate(kb_copy)
    assert code == 3
    found = re.findall(r"(\S+\.yaml):(\d+):\d+: error", output)
    assert (path.name, str(kind_line)) in [(Path(f).name, n) for f, n in found]
    assert (other_path.name, str(other_test.line)) in [(Path(f).name, n) for f, n in found]  # the same round
    assert found == sorted(found, key=lambda p: (p[0], int(p[1])))
    assert "did you mean 'caution'?" in output and f"did you mean '{other_test.fact}'?" in output
