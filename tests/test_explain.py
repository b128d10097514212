"""How, why not, what if, and the consultation that asks: issue 3's questions.

How, why-not and what-if, whole, on a tiny knowledge base with one derived fact made two ways:
the exact derivation tree, every condition judged, the minimal changes in the order offered, the
derived facts a rule still needs, and every kind of difference with the facts that caused it.

Why not and what if, exactly: the bounds of the minimal-change search, and the causes of a dose change.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase, consult, find_missing, load_knowledge_base, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.errors import InputError
from myoivig.engine.evaluator import input_dependencies
from myoivig.engine.explain import (
    MARKS,
    MAX_CHANGED_FACTS,
    MAX_SUGGESTIONS,
    ConditionCheck,
    Derivation,
    Difference,
    how,
    minimal_changes,
    targets,
    what_if,
    why_not,
)
from myoivig.engine.model import KIND, FactSpec, MatchedFact, Provenance, Quote, Rule

from .builders import knowledge_base, mask, rule
from .conftest import KB_DIR

CASES_DIR = KB_DIR / "cases"
MILD = str(CASES_DIR / "dm_mild_no_indication.yaml")
EARLY = str(CASES_DIR / "imnm_anti_hmgcr_early.yaml")


@pytest.mark.slow
def test_how_is_exactly_the_reviewed_derivation(runner: CliRunner, snapshot: Any) -> None:
    result = runner.invoke(cli, ["explain", EARLY, "dosing.actual_weight_if_lower"])
    assert result.exit_code == 0
    masked = re.sub(r"(\d+\. [\w.]+) - .* \(((?:knowledge_base/)?rules/)", r"\1 - <title> (\2", mask(result.output))
    assert masked == snapshot


@pytest.mark.slow
def test_how_goes_down_to_the_input_facts(kb: KnowledgeBase) -> None:
    facts = normalize(kb, {"diagnosis": "PM", "severity": "severe", "age_years": 40})
    tree = how(kb, consult(kb, facts), "side_effects.common")
    assert tree is not None
    path = [tree.rule]
    node = tree
    while node.children:
        node = node.children[-1]
        path.append(node.rule)
    assert path == ["side_effects.common", "finding.ivig_advised", "finding.no_known_hard_stop"]
    assert [(m.name, m.value, m.origin) for m in node.matched] == [
        ("anti_iga_antibodies", None, "input"), ("prior_immunoglobulin_anaphylaxis", None, "input")]
    route = how(kb, consult(kb, facts), "indication_met")
    assert route is not None and route.rule == "indication.severe_or_rapidly_progressive"
    assert [child.rule for child in route.children] == ["finding.covered_diagnosis", "finding.adult_or_age_unknown",
                                                        "finding.severe_or_rapidly_progressive"]
    assert [(m.name, m.value) for m in route.children[-1].matched] == [("severity", "severe")]


@pytest.mark.slow
def test_why_not_judges_each_condition(kb: KnowledgeBase) -> None:
    facts = normalize(kb, {"diagnosis": "DM", "severity": "mild", "age_years": 40})
    answer = why_not(kb, facts, "indication.severe_or_rapidly_progressive")
    assert (answer.reached, answer.kind) == (False, "conclusion")
    [check] = answer.candidates
    assert [(c.description, c.status) for c in check.conditions] == [
        ("covered_diagnosis = true", "held"), ("adult_or_age_unknown = true", "held"),
        ("severe_or_rapidly_progressive = true", "unknown"), ("not diagnosis = inclusion_body_myositis", "held")]
    [need] = check.needs
    assert [(c.description, c.status, c.value) for c in need.candidates[0].conditions] == [
        ("severity = severe", "failed", "mild"), ("rapidly_progressive = true", "unknown", None)]
    # filling in the unknown fact comes before contradicting what the clinician said
    assert check.minimal_changes == ({"rapidly_progressive": True}, {"severity": "severe"})


@pytest.mark.slow
@pytest.mark.parametrize("target", ["indication.refractory_or_flaring_pm_dm", "caution.renal_risk_age",
                                    "early_initiation.within_early_window", "combination.without_corticosteroids",
                                    "dosing.actual_weight_if_lower", "indication_met"])
def test_each_minimal_change_really_reaches_the_target(kb: KnowledgeBase, target: str) -> None:
    facts = normalize(kb, {"diagnosis": "DM", "severity": "mild", "age_years": 40, "sex": "female",
                           "height_cm": 160, "weight_kg": 70})
    answer = why_not(kb, facts, target)
    assert not answer.reached
    changes = [change for check in answer.candidates for change in check.minimal_changes]
    assert changes
    for change in changes:
        after = consult(kb, {**facts, **change})
        assert target in after.fired or target in after.derived, change


@pytest.mark.slow
def test_why_not_an_unknown_conclusion_suggests_the_nearest(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", MILD, "--why-not", "indication.dysphagia"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "'indication.dysphagia' is neither a conclusion nor a derived fact" in result.stderr
    assert "did you mean 'indication.ibm_dysphagia'?" in result.stderr


@pytest.mark.slow
def test_explain_takes_at_most_one_target(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", MILD, "side_effects.common", "--why-not", "side_effects.common"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "give either CONCLUSION_ID or --why-not CONCLUSION_ID, not both" in result.stderr


@pytest.mark.slow
def test_explain_without_a_target_lists_what_it_can_explain(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", EARLY])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Concluded for this patient (myoivig explain {EARLY} ID):\n")
    assert "  early_initiation.within_early_window: Diagnosed 6 months ago or less" in result.stdout
    data = json.loads(runner.invoke(cli, ["explain", EARLY, "--format", "json"]).stdout)
    assert "caution.thrombotic_risk" in [c["id"] for c in data["reached"]]
    assert "contraindication.anti_iga_antibodies" in data["not_reached"]


@pytest.mark.slow
def test_what_if_speaks_in_words(runner: CliRunner) -> None:
    elderly = str(CASES_DIR / "pm_elderly_renal_thrombotic_iga.yaml")
    output = runner.invoke(cli, ["consult", elderly, "--what-if", "age_years=80"]).stdout
    assert "~ caution.renal_risk_age: still concluded, now on age_years = 80 (was age_years = 74)" in output
    assert "{" not in output.split("WHAT IF")[1]


@pytest.mark.slow
def test_explain_of_a_conclusion_not_reached_answers_why_not(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", MILD, "side_effects.common"])
    assert result.exit_code == 0
    assert result.output.startswith("WHY NOT side_effects.common: the conclusion was NOT reached")
    assert "x ivig_advised = true (value: false)" in result.output


@pytest.mark.slow
def test_why_not_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", MILD, "--why-not", "caution.iga_deficiency", "--format", "json"])
    data = json.loads(result.output)["why_not"]
    assert data["reached"] is False
    [check] = data["candidates"]
    assert check["conditions"] == [{"description": "iga_deficiency = true", "fact": "iga_deficiency",
                                    "status": "failed", "value": False, "group": "all"}]
    assert check["minimal_changes"] == [{"iga_deficiency": True}]


@pytest.mark.slow
def test_what_if_matches_two_separate_consultations(kb: KnowledgeBase, runner: CliRunner) -> None:
    facts = normalize(kb, {"diagnosis": "DM", "severity": "mild", "age_years": 40, "sex": "male",
                           "height_cm": 180, "corticosteroid_contraindicated": False})
    answer = what_if(kb, facts, {"dysphagia": True, "weight_kg": 60})
    before = {c.id for c in consult(kb, facts).conclusions}
    after_consultation = consult(kb, {**facts, "dysphagia": True, "weight_kg": 60})
    after = {c.id for c in after_consultation.conclusions}
    gained = {d.conclusion for d in answer.differences if d.change == "gained"}
    lost = {d.conclusion for d in answer.differences if d.change == "lost"}
    assert (gained, lost) == (after - before, before - after)
    assert answer.after.dose == after_consultation.dose
    causes = {d.conclusion: d.because_of for d in answer.differences}
    assert causes["indication.dysphagia_or_respiratory_involvement"] == ("dysphagia",)
    assert causes["dosing.actual_weight_if_lower"] == ("dysphagia", "weight_kg")
    [dose] = [d for d in answer.differences if d.change == "dose"]
    assert dose.after == "60 kg (actual_body_weight): give 60-120 g over 2 days (30-60 g/day)"


@pytest.mark.slow
def test_what_if_in_the_cli(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["consult", MILD, "--what-if", "respiratory_involvement=true"])
    assert result.exit_code == 0
    assert "WHAT IF respiratory_involvement=true" in result.output
    assert "Verdict: not_indicated -> indicated" in result.output
    data = json.loads(runner.invoke(cli, ["consult", MILD, "--what-if", "flare=true", "--format", "json"]).output)
    assert data["what_if"]["ivig_indicated"] == [False, True]
    assert data["what_if"]["verdict"] == ["not_indicated", "indicated"]
    gained = {d["conclusion"] for d in data["what_if"]["differences"] if d["change"] == "gained"}
    assert "indication.refractory_or_flaring_pm_dm" in gained


@pytest.mark.slow
def test_what_if_bad_value(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["consult", MILD, "--what-if", "flare=often"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "fact 'flare': \"often\" is not true or false" in result.stderr


@pytest.mark.slow
def test_consult_how_option(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["consult", EARLY, "--how", "early_initiation.within_early_window"])
    assert "HOW early_initiation.within_early_window was concluded" in result.output
    assert "on months_since_diagnosis = 3 (input)" in result.output
    missing = runner.invoke(cli, ["consult", MILD, "--how", "side_effects.common"])
    assert (missing.exit_code, missing.stdout) == (2, "")
    assert "was not concluded for this patient" in missing.stderr


# ---------------------------------------------------------------- asking
@pytest.mark.slow
def test_ask_scripted_session(runner: CliRunner, tmp_path: Path) -> None:
    patient = tmp_path / "p.yaml"
    patient.write_text("diagnosis: DM\nage_years: 50\n")
    # every question before flare skipped (the order is the knowledge base's, read from its own advice);
    # flare: why, a wrong answer, then true; the rest skipped
    asked = [m["fact"] for m in json.loads(runner.invoke(cli, ["consult", str(patient), "--format", "json"]).stdout)[
        "missing"]]
    before = asked.index("flare")
    answers = "skip\n" * before + "why\nmaybe\ntrue\n" + "skip\n" * 30
    result = runner.invoke(cli, ["consult", str(patient), "--ask", "--format", "json"], input=answers)
    assert result.exit_code == 0, result.output
    assert "flare matters because these conclusions depend on it:" in result.stderr
    assert "fact 'flare': \"maybe\" is not true or false; allowed: true, false (or yes/no, y/n, in any case)" in result.stderr
    data = json.loads(result.stdout)
    assert data["patient"]["flare"] is True and data["summary"]["verdict"] == "indicated"
    kb = load_knowledge_base(None)
    questions = [kb.facts[fact].question for fact in asked[:before + 1]]
    positions = [result.stderr.index(question + " [") for question in questions]
    assert positions == sorted(positions) and result.stderr.startswith(questions[0])


@pytest.mark.slow
def test_ask_stops_when_nothing_could_change_the_advice(runner: CliRunner) -> None:
    patient = {"diagnosis": "other", "age_years": 40, "renal_insufficiency": False, "iga_deficiency": False}
    result = runner.invoke(cli, ["consult", "-", "--ask"], input=json.dumps(patient))
    # standard input held the patient, so no answer can be read: it asks once, then stops
    assert result.exit_code == 0
    # safety first, even out of scope; IgA is known not to be deficient, so anti-IgA is not asked
    assert "Has the patient ever had anaphylaxis or a severe systemic reaction" in result.stderr
    assert "Were antibodies against IgA found" not in result.stderr


@pytest.mark.slow
def test_consult_without_patient_asks_from_scratch(runner: CliRunner, kb: KnowledgeBase) -> None:
    first = sum(m.concern == "hard_stop" for m in find_missing(kb, {}))  # the hard-stop questions come first
    answers = "skip\n" * first + "IMNM\n55\n[anti_hmgcr]\n" + "skip\n" * 40
    result = runner.invoke(cli, ["consult", "--format", "json"], input=answers)
    data = json.loads(result.stdout)
    assert data["patient"]["diagnosis"] == "necrotizing_myopathy"
    assert data["summary"]["early_initiation"] is True


@pytest.mark.slow
def test_explain_names_the_verdict(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", MILD, "side_effects.common"])
    assert result.output.endswith("Verdict for this patient: not_indicated (NOT INDICATED on the facts given - "
                                  "every route to an indication fails)\n")
    data = json.loads(runner.invoke(cli, ["explain", EARLY, "indication_met", "--format", "json"]).output)
    assert data["verdict"] == "indicated" and data["how"]["rule"] == "indication.dysphagia_or_respiratory_involvement"


@pytest.mark.slow
def test_what_if_names_what_is_lost_and_what_changes(kb: KnowledgeBase) -> None:
    facts = normalize(kb, {"diagnosis": "PM", "flare": True, "renal_insufficiency": True, "age_years": 70,
                           "sex": "male", "height_cm": 175})
    lost = {(d.change, d.conclusion): d for d in what_if(kb, facts, {"flare": False}).differences}
    flaring = lost[("lost", "indication.refractory_or_flaring_pm_dm")]
    assert flaring.before.startswith("IVIG has been shown to be effective") and flaring.after is None
    assert flaring.because_of == ("flare",)
    older = what_if(kb, facts, {"age_years": 80})
    changed = {(d.change, d.conclusion): d for d in older.differences}
    renal = changed[("changed", "caution.renal_risk_age")]  # still concluded, on another age
    assert (renal.before, renal.after) == ({"age_years": 70}, {"age_years": 80})
    assert renal.because_of == ("age_years",)
    assert not any(change == "gained" or change == "lost" for change, _ in changed)
    assert older.before.verdict.value == older.after.verdict.value == "indicated"


# ---------------------------------------------------------------- How, why-not and what-if, whole, on a tiny knowledge base wi
def described(rule_id: str, line: int, when: str, **spec: Any) -> Rule:
    """A rule whose every text names it, so an explanation shows which rule said what."""
    return rule(rule_id, when, line=line, title=f"title of {rule_id}", statement=f"statement of {rule_id}",
                provenance=Provenance((Quote("1", f"quote for {rule_id}"),), f"policy of {rule_id}"), **spec)


@pytest.fixture(scope="module")
def tiny() -> KnowledgeBase:
    facts = [FactSpec("x", "bool", "x", "x?"), FactSpec("y", "bool", "y", "y?"),
             FactSpec("n", "number", "n", "n?", range=(0, 10)), FactSpec("e", "enum", "e", "e?", values=("p", "q"))]
    rules = (described("find.d", 1, "any: [{x: true}, {n: {gt: 5}}]", derive=("d",)),
             described("find.d2", 2, "e: p", derive=("d",)),
             described("use.d", 3, "all: [{d: true}, {y: true}]", kind="monitoring"),
             described("plain", 4, "n: {gte: 3}", kind="caution"))
    return knowledge_base(*rules, facts=facts, derived=("d",))


def test_the_limits_and_marks() -> None:
    assert (MAX_CHANGED_FACTS, MAX_SUGGESTIONS) == (3, 6)
    assert MARKS == {"held": "+", "failed": "x", "unknown": "?"}


def test_what_may_be_asked_about(tiny: KnowledgeBase) -> None:
    """Conclusions first, in rule order, then derived facts; rules without a conclusion are not targets."""
    assert targets(tiny) == ["use.d", "plain", "d"]


@pytest.mark.parametrize("target, message, allowed", [
    ("use.e", "'use.e' is neither a conclusion nor a derived fact of the knowledge base (did you mean 'use.d'?)",
     None),
    ("zzzzzz", "'zzzzzz' is neither a conclusion nor a derived fact of the knowledge base; "
               "allowed: see `consult --format json`", "see `consult --format json`"),
    ("find.d", "'find.d' is neither a conclusion nor a derived fact of the knowledge base; "
               "allowed: see `consult --format json`", "see `consult --format json`"),   # a rule, not a target
])
def test_an_unknown_target_is_refused_with_the_nearest_or_where_to_look(tiny: KnowledgeBase, target: str,
                                                                        message: str, allowed: str | None) -> None:
    with pytest.raises(InputError) as caught:
        why_not(tiny, {}, target)
    assert str(caught.value) == message
    assert (caught.value.field, caught.value.allowed) == ("conclusion", allowed)
    with pytest.raises(InputError):
        how(tiny, consult(tiny, {}), target)


def test_how_a_conclusion_was_reached_down_to_the_input_facts(tiny: KnowledgeBase) -> None:
    """Each step: its rule, where it stands, what it matched and derived, and below it how each derived fact came."""
    consultation = consult(tiny, {"x": True, "y": True})
    derivation = how(tiny, consultation, "use.d")
    orders = {f.rule: f.order for f in consultation.trace}
    child = Derivation("find.d", "title of find.d", "t.yaml:1", orders["find.d"], None,
                       (MatchedFact("x", True, "input"),), (Quote("1", "quote for find.d"),), "policy of find.d",
                       ("d",), ())
    assert derivation is not None
    assert (derivation.rule, derivation.title, derivation.where, derivation.order, derivation.statement) == (
        "use.d", "title of use.d", "t.yaml:3", orders["use.d"], "statement of use.d")
    assert sorted(derivation.matched, key=lambda m: m.name) == [MatchedFact("d", True, "derived"),
                                                                MatchedFact("y", True, "input")]
    assert (derivation.sources, derivation.local_policy, derivation.derived) == (
        (Quote("1", "quote for use.d"),), "policy of use.d", ())
    assert derivation.children == (child,)
    assert how(tiny, consultation, "d") == child          # a derived fact: the rule that derived it
    assert how(tiny, consultation, "plain") is None      # not reached


def test_why_not_judges_each_condition_and_offers_the_fewest_facts(tiny: KnowledgeBase) -> None:
    """use.d needs d (unknown: its producers are undecided) and y (held); one fact would make d."""
    answer = why_not(tiny, {"y": True}, "use.d")
    assert (answer.target, answer.kind, answer.reached) == ("use.d", "conclusion", False)
    (check,) = answer.candidates
    assert (check.rule, check.title, check.where, check.fired) == ("use.d", "title of use.d", "t.yaml:3", False)
    assert check.conditions == (ConditionCheck("d = true", "d", "unknown", None, "all"),
                                ConditionCheck("y = true", "y", "held", True, "all"))
    assert check.minimal_changes == ({"e": "p"}, {"n": 6}, {"x": True})
    (need,) = check.needs
    assert (need.target, need.kind, need.reached) == ("d", "derived fact", False)
    assert [c.rule for c in need.candidates] == ["find.d", "find.d2"]
    first, second = need.candidates
    assert first.conditions == (ConditionCheck("x = true", "x", "unknown", None, "any"),
                                ConditionCheck("n > 5", "n", "unknown", None, "any"))
    assert first.minimal_changes == ({"n": 6}, {"x": True}) and first.needs == ()
    assert second.minimal_changes == ({"e": "p"},)


def test_why_not_a_reached_derived_fact_shows_the_rule_that_fired(tiny: KnowledgeBase) -> None:
    """A fired rule needs no change and no further derived facts; the other producer still shows the way."""
    answer = why_not(tiny, {"x": True}, "d")
    assert (answer.kind, answer.reached) == ("derived fact", True)
    fired, other = answer.candidates
    assert (fired.rule, fired.fired, fired.minimal_changes, fired.needs) == ("find.d", True, (), ())
    assert [c.status for c in fired.conditions] == ["held", "unknown"]
    assert (other.rule, other.fired, other.minimal_changes) == ("find.d2", False, ({"e": "p"},))
    reached = why_not(tiny, {"x": True, "y": True}, "use.d")
    assert reached.reached is True and reached.candidates[0].needs == ()
    assert [c.status for c in reached.candidates[0].conditions] == ["held", "held"]


def test_a_failed_condition_shows_the_patients_value(tiny: KnowledgeBase) -> None:
    check = why_not(tiny, {"n": 2}, "plain").candidates[0]
    assert check.conditions == (ConditionCheck("n >= 3", "n", "failed", 2, "all"),)
    assert check.minimal_changes == ({"n": 3},)     # the smallest value tried that holds, not the one given


def test_changes_that_only_fill_in_unknown_facts_are_offered_first(tiny: KnowledgeBase) -> None:
    """Two facts at once: n (unknown) with y before e and x, which contradict what the clinician said."""
    changes = minimal_changes(tiny, {"x": False, "y": False, "e": "q"}, tiny.rule("use.d"))
    assert changes == ({"n": 6, "y": True}, {"e": "p", "y": True}, {"x": True, "y": True})


def test_what_if_lists_gained_lost_and_changed_with_their_causes(tiny: KnowledgeBase) -> None:
    """A null in the changes makes a fact unknown; each difference names the changed facts it rests on."""
    result = what_if(tiny, {"x": True, "y": True, "n": 1}, {"n": 4, "y": None, "e": "p"})
    assert result.changes == {"n": 4, "y": None, "e": "p"}
    assert result.after.patient == {"x": True, "n": 4, "e": "p"}
    assert result.differences == (
        Difference("gained", "plain", None, "statement of plain", "plain", ("n",)),
        Difference("lost", "use.d", "statement of use.d", None, "use.d", ("e", "n", "y")),
    )
    changed = what_if(tiny, {"n": 4}, {"n": 5})
    assert changed.differences == (Difference("changed", "plain", {"n": 4}, {"n": 5}, "plain", ("n",)),)
    assert what_if(tiny, {"n": 4}, {"n": 4}).differences == ()
    assert what_if(tiny, {"n": 4}, {"x": None}).differences == ()


DOSED = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165, "weight_kg": 80}


def test_a_dose_difference_names_its_first_rule_and_only_the_changed_facts_it_rests_on(kb: KnowledgeBase) -> None:
    """A new weight changes the dose; a therapy changed at the same time is not a cause of the dose."""
    result = what_if(kb, normalize(kb, DOSED), {"weight_kg": 50, "current_therapies": ["methotrexate"]})
    (dose,) = [d for d in result.differences if d.change == "dose"]
    assert dose == Difference("dose", None, "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)",
                              "50 kg (actual_body_weight): give 50-100 g over 2 days (25-50 g/day)", "dosing.standard_regimen",
                              ("weight_kg",))


def test_a_dose_that_disappears_is_compared_with_the_reason(kb: KnowledgeBase) -> None:
    result = what_if(kb, normalize(kb, DOSED), {"sex": None})
    (dose,) = [d for d in result.differences if d.change == "dose"]
    assert dose.before == "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)"
    assert dose.after == ("No dose: sex not given; the dosing weight is the ideal body weight, "
                          "which needs sex and height.")
    assert dose.rule == "dosing.standard_regimen" and dose.because_of == ("sex",)


def test_no_dose_before_or_after_is_no_dose_difference(kb: KnowledgeBase) -> None:
    """Two different reasons for no dose are not a dose difference: the verdict difference says it."""
    facts: dict[str, Any] = {"diagnosis": "DM", "severity": "severe", "age_years": 12}
    result = what_if(kb, normalize(kb, facts), {"anti_iga_antibodies": True})
    assert result.before.dose_note != result.after.dose_note
    assert [d for d in result.differences if d.change == "dose"] == []
    assert [d.conclusion for d in result.differences if d.change == "gained"] == ["contraindication.anti_iga_antibodies"]


def test_a_negated_check_is_judged_negated_and_combines_after_de_morgan() -> None:
    """`not (b or c > 2)` reads as two negated checks that must all hold; unknown stays unknown."""
    from myoivig.engine.explain import condition_checks
    negated = described("neg", 1, "all: [{not: {a: true}}, {not: {any: [{b: true}, {c: {gt: 2}}]}}, {d: true}]")
    assert condition_checks(negated, {"a": False, "b": True, "c": 1}) == (
        ConditionCheck("not a = true", "a", "held", False, "all"),
        ConditionCheck("not b = true", "b", "failed", True, "all"),
        ConditionCheck("not c > 2", "c", "held", 1, "all"),
        ConditionCheck("d = true", "d", "unknown", None, "all"),
    )


# ---------------------------------------------------------------- Why not and what if, exactly: the bounds of the minimal-chan
FLAGS = tuple(f"b{i}" for i in range(1, 9))


def flags(count: int) -> tuple[cond.Test, ...]:
    return tuple(cond.Test(name, "equals", True) for name in FLAGS[:count])


RULES = {
    "four": cond.All(flags(4)),
    "three": cond.All(flags(3)),
    "either": cond.Test("e", "in", ("x", "y")),
    "many": cond.Any_(flags(8)),
}


@pytest.fixture(scope="module")
def flags_kb() -> KnowledgeBase:
    """Eight yes/no facts and a three-valued choice, one rule per shape of search."""
    facts = {name: FactSpec(name, "bool", name, "?") for name in FLAGS}
    facts["e"] = FactSpec("e", "enum", "a choice", "?", values=("x", "y", "z"))
    return knowledge_base(*(rule(rid, when, kind="monitoring") for rid, when in RULES.items()), facts=facts.values())


@pytest.mark.parametrize(("rule", "changes"), [
    ("three", ({"b1": True, "b2": True, "b3": True},)),  # three facts: still searched
    ("four", ()),                                         # four facts: beyond the search, nothing offered
    ("either", ({"e": "x"},)),                            # one value set per group of facts
    ("many", tuple({name: True} for name in FLAGS[:6])),  # six suggestions at most
])
def test_minimal_changes_search_up_to_three_facts_and_six_suggestions(flags_kb: KnowledgeBase, rule: str,
                                                                      changes: tuple[dict, ...]) -> None:
    """Why-not offers the smallest changes, one per group of facts, and stops at the documented bounds."""
    assert minimal_changes(flags_kb, {}, flags_kb.rule(rule)) == changes


def test_input_dependencies_are_the_facts_a_rule_tests(flags_kb: KnowledgeBase) -> None:
    """What-if names as causes only the changed facts a rule rests on."""
    assert input_dependencies(flags_kb) == {"four": frozenset(FLAGS[:4]), "three": frozenset(FLAGS[:3]),
                                        "either": frozenset({"e"}), "many": frozenset(FLAGS)}


DOSED_72KG = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165, "weight_kg": 72}


def test_a_new_weight_changes_the_dose_because_of_the_weight_alone(kb: KnowledgeBase) -> None:
    """The dose difference names the changed body fact, not the body facts that stayed the same."""
    result = what_if(kb, normalize(kb, DOSED_72KG), {"weight_kg": 50})
    [dose] = [d for d in result.differences if d.change == "dose"]
    assert dose.because_of == ("weight_kg",)
    assert (dose.before, dose.after) == ("56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)",
                                         "50 kg (actual_body_weight): give 50-100 g over 2 days (25-50 g/day)")


def test_a_dose_that_appears_is_compared_with_the_reason_there_was_none(kb: KnowledgeBase) -> None:
    """Before the change there was no dose, and the difference says why in the verdict's own words."""
    facts = normalize(kb, {**DOSED_72KG, "severity": "mild"})
    result = what_if(kb, facts, {"severity": "severe"})
    [dose] = [d for d in result.differences if d.change == "dose"]
    assert result.before.dose is None and dose.before == result.before.dose_note
    assert dose.before == "No dose until the verdict is decided: answer the questions under MISSING."
    assert dose.after == "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)"
    assert dose.because_of == ("severity",)


def test_what_if_with_the_value_already_given_changes_nothing(kb: KnowledgeBase) -> None:
    """Asking "what if she took corticosteroids" of a patient who does: no difference, whatever the list's identity."""
    facts = normalize(kb, {"diagnosis": "DM", "severity": "severe", "current_therapies": ["prednisone"],
                           "sex": "female", "height_cm": 165, "weight_kg": 70, "age_years": 58})
    same = normalize(kb, {"current_therapies": ["corticosteroids"]})
    assert what_if(kb, facts, same).differences == ()


def test_a_weight_change_names_the_weight_as_the_cause_of_the_new_dose(kb: KnowledgeBase) -> None:
    """The weights feed the dose arithmetic, not a rule's condition; the difference still names them."""
    facts = normalize(kb, {"diagnosis": "DM", "severity": "severe", "sex": "female", "height_cm": 165,
                           "weight_kg": 50, "age_years": 58})
    dose = [d for d in what_if(kb, facts, {"weight_kg": 48.0}).differences if d.change == "dose"]
    assert len(dose) == 1 and "weight_kg" in dose[0].because_of


@pytest.mark.parametrize(("when", "groups"), [
    ("any: [{a: true}, {b: true}]", ["any", "any"]),
    ("all: [{a: true}, {b: true}]", ["all", "all"]),
    ("not: {any: [{a: true}, {b: true}]}", ["all", "all"]),      # not (a or b) = not a and not b
    ("not: {all: [{a: true}, {b: true}]}", ["any", "any"]),      # not (a and b) = not a or not b
])
def test_each_check_says_how_it_combines_after_de_morgan(when: str, groups: list[str]) -> None:
    """Why-not lists each test with 'all' or 'any' as it really combines once negation is pushed inward."""
    from myoivig.engine.explain import condition_checks

    assert [check.group for check in condition_checks(rule("r.x", when), {"a": True})] == groups


def test_a_negated_test_is_judged_negated_and_unknown_stays_unknown() -> None:
    """not a, with a true, failed; with b unknown, unknown (never guessed)."""
    from myoivig.engine.explain import condition_checks

    negated = rule("r.x", "all: [{not: {a: true}}, {not: {b: true}}]")
    assert [(c.description, c.status) for c in condition_checks(negated, {"a": True})] == [
        ("not a = true", "failed"), ("not b = true", "unknown")]


# ---------------------------------------------------------------- the text of why-not, what-if and resolutions
def _why_not_lines(answer: Any, depth: int = 0) -> list[str]:
    """What render_why_not must print for a WhyNot, line by line, read from the answer itself."""
    from myoivig.engine.conditions import show_value

    pad = "    " * depth
    lines = [f"{pad}WHY NOT {answer.target}: the {answer.kind} {'was reached' if answer.reached else 'was NOT reached'}"
             " for this patient"]
    for check in answer.candidates:
        lines.append(f"{pad}  rule {check.rule} - {check.title} ({check.where}): "
                     f"{'fired' if check.fired else 'did not fire'}")
        for c in check.conditions:
            value = "" if c.status == "unknown" and c.value is None else f" (value: {show_value(c.value)})"
            lines.append(f"{pad}    {MARKS[c.status]} {c.description}{' [any of]' if c.group == 'any' else ''}{value}")
        for change in check.minimal_changes:
            lines.append(f"{pad}    would fire with: " + ", ".join(f"{n}={show_value(v)}" for n, v in change.items()))
        if not check.fired and not check.minimal_changes:
            lines.append(f"{pad}    no change of up to 3 facts makes it fire")
        for need in check.needs:
            lines += _why_not_lines(need, depth + 1)
    return lines


@pytest.mark.slow
def test_why_not_text_says_each_candidate_its_conditions_changes_and_needs(kb: KnowledgeBase,
                                                                           flags_kb: KnowledgeBase) -> None:
    """For every shipped case and every conclusion it did not reach (and one it did), the text is exactly what
    the answer holds: fired or not, each condition's mark and value, the changes that would make it fire,
    or that none of up to 3 facts would, and each derived fact it needs, one level further in."""
    from myoivig.cli.render import render_why_not
    from myoivig.engine.cases import case_paths, load_case

    shapes = {"fired": 0, "no change": 0, "changes": 0, "needs": 0}
    for case in [load_case(path) for path in case_paths(kb)][:8]:
        facts = normalize(kb, case.patient)
        reached = {c.id for c in consult(kb, facts, ask=False).conclusions}
        targets = [r.id for r in kb.conclusion_rules() if r.id not in reached][:12] + sorted(reached)[:1]
        for target in targets:
            answer = why_not(kb, facts, target)
            assert render_why_not(kb, answer).splitlines() == _why_not_lines(answer)
            text = render_why_not(kb, answer)
            shapes["fired"] += ": fired\n" in text
            shapes["no change"] += "no change of up to 3 facts" in text
            shapes["changes"] += "would fire with:" in text
            shapes["needs"] += "\n    WHY NOT " in text
    beyond_reach = why_not(flags_kb, {name: False for name in flags_kb.facts if name != "e"}, "four")
    assert render_why_not(flags_kb, beyond_reach).splitlines() == _why_not_lines(beyond_reach)
    shapes["no change"] += "no change of up to 3 facts" in render_why_not(flags_kb, beyond_reach)
    assert all(shapes.values()), shapes  # every shape of the text was met


@pytest.mark.slow
def test_what_if_text_marks_gained_lost_and_changed(kb: KnowledgeBase) -> None:
    from myoivig.cli.render import render_what_if
    from myoivig.engine.cases import case_paths, load_case

    seen = set()
    for case in (load_case(path) for path in case_paths(kb)):
        facts = normalize(kb, case.patient)
        for name, value in (("severity", "mild"), ("dysphagia", True), ("renal_insufficiency", True)):
            answer = what_if(kb, facts, {name: value})
            text = render_what_if(kb, answer)
            assert text.splitlines()[2] == f"Verdict: {answer.before.verdict.value} -> {answer.after.verdict.value}"
            for diff in answer.differences:
                if diff.change in ("gained", "lost"):
                    said = diff.after if diff.change == "gained" else diff.before
                    mark = "+" if diff.change == "gained" else "-"
                    assert f"{mark} {diff.conclusion}: {' '.join(str(said).split()[:3])}" in " ".join(text.split())
                    seen.add(diff.change)
            if not answer.differences:
                assert "  no difference in the advice" in text
    assert seen == {"gained", "lost"}


@pytest.mark.slow
def test_detail_says_each_resolved_conflict_once_under_combination_and_only_with_detail(kb: KnowledgeBase) -> None:
    from myoivig.cli.render import render_consultation
    from myoivig.engine.advice import advise
    from myoivig.engine.cases import case_paths, load_case

    resolved = 0
    for case in (load_case(path) for path in case_paths(kb)):
        consultation = consult(kb, normalize(kb, case.patient), ask=False)
        detailed = " ".join(render_consultation(kb, advise(kb, consultation), detail=True).split())  # unwrapped
        brief = " ".join(render_consultation(kb, advise(kb, consultation)).split())
        for winner, loser, _why in consultation.resolutions:
            line = f"Resolved conflict: {winner} overrides {loser}."
            assert detailed.count(line) == 1 and line not in brief
            assert detailed.index(KIND["combination"].title) < detailed.index(line)
            resolved += 1
    assert resolved > 0
