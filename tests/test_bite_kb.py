"""Loading a knowledge base: each meaning check at its exact position, the cache's key, and the durable backend."""
from __future__ import annotations

from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, consult, kbcache, load_knowledge_base, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.durable_engine import DurableEngine, engine_for, working_memory
from myoivig.engine.errors import KnowledgeBaseError
from myoivig.engine.evaluator import evaluate_rules
from myoivig.engine.loader import check_knowledge_base
from myoivig.engine.model import ConclusionSpec, FactSpec, Provenance, Rule

from .builders import edit
from .conftest import KB_DIR

V = "vocabulary.yaml"
ADVISED = {"diagnosis": "DM", "severity": "severe", "age_years": 50}


def problems(root: Path) -> tuple[KnowledgeBase | None, list[str]]:
    kb, found = check_knowledge_base(root)
    return kb, [str(p).replace(f"{root}/", "") for p in found]


@pytest.mark.parametrize(("file", "old", "new", "at", "problem"), [
    (V, "  rapidly_progressive:\n    type: bool\n", "  rapidly_progressive:\n    type: bool\n    unit: x\n    units: {x: 1}\n",
     (V, "    units: {x: 1}", 5), "error: units of 'rapidly_progressive' need a number fact and its own unit 'x' at 1"),
    (V, "units: {cm: 1, m: 100", "units: {cm: 2, m: 100",
     (V, "units: {cm: 2", 5), "error: units of 'height_cm' need a number fact and its own unit 'cm' at 1"),
    ("rules/dosing.yaml", "    derive: [dose_weight_available]\n", "",
     (V, "  dose_weight_available:", 3),
     "error: derived fact 'dose_weight_available' is used but no rule derives it - "
     "add a rule with `derive: [dose_weight_available]` or stop using it"),
    ("rules/dosing.yaml", "        - dose_weight_available: true\n", "        - dose_weight_available: false\n",
     ("rules/dosing.yaml", "dose_weight_available: false", 11),
     "error [dosing.actual_weight_if_lower]: a derived fact is tested only as `dose_weight_available: true`"),
    ("rules/dosing.yaml", "        - dose_weight_available: true\n", "        - dose_weight_available: 1\n",
     ("rules/dosing.yaml", "dose_weight_available: 1", 11),
     "error [dosing.actual_weight_if_lower]: a derived fact is tested only as `dose_weight_available: true`"),
    ("rules/cautions.yaml", "    when:\n      renal_insufficiency: true\n", "    when:\n      current_therapies: methotrexate\n",
     ("rules/cautions.yaml", "current_therapies: methotrexate", 7),
     "error [caution.renal_insufficiency]: 'current_therapies' is a list: test it with 'contains'"),
    ("rules/dosing.yaml", "        - ivig_advised: true\n        - sex: {known: true}\n",
     "        - ivig_advised: true\n        - dose_weight_available: true\n        - sex: {known: true}\n",
     ("rules/dosing.yaml", "- id: dosing.ideal_body_weight", 1),
     "error [dosing.ideal_body_weight]: derived facts form a cycle: "
     "dosing.ideal_body_weight -> dosing.ideal_body_weight - a derived fact may not depend on itself"),
    ("rules/cautions.yaml", "      statement: Use IVIG cautiously - renal insufficiency.\n",
     "      statement: Use IVIG cautiously - renal insufficiency.\n"
     "    dose:\n      regimen: standard\n      g_per_kg: [1, 2]\n      days_per_course: 2\n",
     ("rules/cautions.yaml", "- id: caution.renal_insufficiency", 1),
     "error [caution.renal_insufficiency]: only a rule concluding kind 'dosing' may carry a 'dose' block"),
    (V, "  sex:\n    type: enum", "  sex:\n    type: list", ("rules/dosing.yaml", "- id: dosing.ideal_body_weight", 1),
     "error [dosing.ideal_body_weight]: the ideal-body-weight dose block needs an enum fact 'sex' in vocabulary.yaml"),
    ("sources.yaml", "file: source_document.txt", "file: missing_document.txt", ("sources.yaml", "file: missing", 3),
     "error: cannot read the source document missing_document.txt: No such file or directory"),
    ("rules/cautions.yaml", "quote: Using IVIG cautiously in patients", "quote: Using IVIG carelessly in patients",
     ("rules/cautions.yaml", "- id: caution.renal_insufficiency", 1),
     'error [caution.renal_insufficiency]: the quote for [1] is not in the source document '
     'word for word: "Using IVIG carelessly in patients with renal insufficiency, ..." - copy the sentence from '
     'source_document.txt'),
], ids=["units-on-a-bool", "own-unit-not-1", "derived-never-derived", "derived-tested-false", "derived-tested-1",
        "list-tested-with-equals", "derivation-cycle", "dose-on-a-caution", "sex-not-an-enum", "document-missing",
        "quote-not-in-document"])
def test_each_meaning_error_is_reported_at_its_place_and_gives_no_model(
        kb_copy: Path, file: str, old: str, new: str, at: tuple[str, str, int], problem: str) -> None:
    """An author is sent to the exact line and column, and a knowledge base with an error never loads.

    The place is found in the edited files (the first line holding a text), never a line number copied
    here: a comment added to a shipped rule file moves the error and the expectation alike."""
    edit(kb_copy / file, old, new)
    model, found = problems(kb_copy)
    assert f"{place(kb_copy, *at)}: {problem}" in found
    assert model is None


def place(root: Path, file: str, text: str, column: int) -> str:
    """`file:line:column` of the first line of `file` that holds `text`."""
    lines = (root / file).read_text().splitlines()
    return f"{file}:{next(n for n, line in enumerate(lines, 1) if text in line)}:{column}"


def test_a_derived_fact_nobody_uses_is_a_warning_at_its_declaration(kb_copy: Path) -> None:
    """Unused declarations are warnings (the model still loads), pointing at the name's line, column 3."""
    edit(kb_copy / V, "derived:\n", "derived:\n  never_used:\n    meaning: Nothing.\n")
    model, found = problems(kb_copy)
    at = place(kb_copy, V, "  never_used:", 3)
    assert found == [f"{at}: warning: derived fact 'never_used' is declared but neither derived "
                     "nor used - remove it from vocabulary.yaml"]
    assert model is not None and model.derived["never_used"].line == int(at.split(":")[1])


def test_rules_that_exclude_each_other_yet_both_hold_are_a_knowledge_base_error(kb_copy: Path) -> None:
    """A self-contradicting knowledge base refuses to advise, pointing at the excluding rule."""
    edit(kb_copy / "rules" / "combination.yaml",
         "            - corticosteroid_contraindicated: false\n            - corticosteroid_contraindicated: {known: false}\n",
         "            - corticosteroid_contraindicated: true\n            - corticosteroid_contraindicated: {known: false}\n")
    kb = load_knowledge_base(kb_copy)
    with pytest.raises(KnowledgeBaseError) as caught:
        consult(kb, normalize(kb, {**ADVISED, "corticosteroid_contraindicated": True}))
    [problem] = caught.value.problems
    excluding = kb.rule("combination.without_corticosteroids")  # where the loaded knowledge base says it stands
    assert (Path(problem.file).name, problem.line, problem.column) == (Path(excluding.file).name, excluding.line, 1)
    assert problem.message.startswith("'combination.without_corticosteroids' and 'combination.corticosteroids' both hold")


def test_the_cache_entry_is_a_file_in_the_cache_folder_unless_turned_off(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    """MYOIVIG_CACHE_DIR moves the cache; MYOIVIG_CACHE=off means no entry at all."""
    monkeypatch.setenv("MYOIVIG_CACHE", "on")
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(tmp_path))
    found = kbcache.entry(KB_DIR)
    assert found is not None and found.parent == tmp_path
    assert found.name.startswith("kb-") and found.name.endswith(".pickle")
    monkeypatch.setenv("MYOIVIG_CACHE", "off")
    assert kbcache.entry(tmp_path) is None


# ---------------------------------------------------------------- the durable backend
def test_working_memory_holds_a_list_fact_as_one_flag_per_value(kb: KnowledgeBase) -> None:
    """A list fact is known-or-not itself; its values are flags (durable cannot match inside a list)."""
    memory = {fact["id"]: fact for fact in working_memory(kb, {"current_therapies": ["methotrexate"], "age_years": 50})}
    assert memory["in:current_therapies"] == {"id": "in:current_therapies", "name": "current_therapies", "known": True}
    assert memory["in:current_therapies:methotrexate"]["value"] is True
    assert memory["in:current_therapies:rituximab"]["value"] is False
    assert memory["in:age_years"]["value"] == 50 and "in:age_years:" not in str(sorted(memory))


def test_an_explicit_equals_operator_runs_like_the_short_form(kb_copy: Path) -> None:
    """`dysphagia: {equals: true}` is the same test as `dysphagia: true`, in the engine as in the evaluator."""
    edit(kb_copy / "rules" / "indication.yaml", "dysphagia: true", "dysphagia: {equals: true}")
    edited, shipped = load_knowledge_base(kb_copy), load_knowledge_base()
    patient = {"diagnosis": "DM", "severity": "moderate", "age_years": 50, "dysphagia": True}
    after = consult(edited, normalize(edited, patient))
    assert after.fired == consult(shipped, normalize(shipped, patient)).fired
    assert "indication.dysphagia_or_respiratory_involvement" in after.fired


def tiny_kb(when: cond.Condition, name: str = "tiny") -> KnowledgeBase:
    facts = {"l": FactSpec("l", "list", "a set", "?", values=("p", "q", "r")),
             "n": FactSpec("n", "number", "a number", "?", unit="u", range=(0, 10))}
    rule = Rule(id="t.rule", title="t", when=when, file="t.yaml", line=1, provenance=Provenance(local_policy="t"),
                conclude=ConclusionSpec("monitoring", "s"))
    return KnowledgeBase(name=name, version="1", sha256=name.ljust(64, "0"), root=Path("."), facts=facts, derived={},
                         rules=(rule,), references={}, document="", background="")


BOTH = cond.All((cond.Test("l", "contains", "p"), cond.Test("l", "contains", "q")))
NEITHER = cond.All((cond.Test("l", "contains", "p"), cond.Not(cond.Test("l", "contains", "p"))))


@pytest.mark.parametrize("facts", [{"l": ["q"]}, {"l": ["p"]}, {"l": ["p", "q"]}, {"l": []}, {}])
@pytest.mark.parametrize(("when", "holds_for"), [(BOTH, ["p", "q"]), (NEITHER, None)])
def test_every_contains_test_on_one_list_counts_in_the_engine(facts: dict, when: cond.Condition,
                                                              holds_for: list[str] | None) -> None:
    """Several tests on one list value all count: the engine agrees with the direct evaluator."""
    kb = tiny_kb(when)
    engine = DurableEngine(kb)
    try:
        fired = [firing.rule for firing in engine.run(facts)]
    finally:
        engine.close()
    assert fired == evaluate_rules(kb, facts).fired == (["t.rule"] if holds_for and facts.get("l") == holds_for else [])


def test_four_knowledge_bases_keep_their_compiled_engines() -> None:
    """`kb diff` and tests alternate a few knowledge bases: up to four compiled engines are kept, not rebuilt."""
    kbs = [tiny_kb(cond.Test("n", "gt", 5), name=f"cache{i}") for i in range(4)]
    first = [engine_for(kb) for kb in kbs]
    assert [engine_for(kb) for kb in kbs] == first
    assert first[0].run({"n": 7})[0].rule == "t.rule"
