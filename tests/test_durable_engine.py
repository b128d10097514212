"""The durable_rules backend, whole, on a tiny knowledge base: the exact patient fact (known and
unknown facts, list flags), the exact durable pattern of every operator, the compiled ruleset, the
trace each firing leaves (matched facts, derived facts asserted once), how failures become
EngineErrors, and the engine cache's least-recently-used closing.
"""
from __future__ import annotations

import dataclasses
import re
from functools import partial
from typing import Any

import pytest

from myoivig.engine import durable_engine as backend
from myoivig.engine.durable_engine import PATIENT, DurableEngine, compile_rules, patient_fact
from myoivig.engine.errors import EngineError
from myoivig.engine.model import (
    FactSpec,
    Firing,
    MatchedFact,
)

from .builders import knowledge_base, rule

FACTS = (
    FactSpec("flag", "bool", "a flag", "?"),
    FactSpec("age", "number", "an age", "?", range=(0, 120)),
    FactSpec("kind", "enum", "a kind", "?", values=("x", "y")),
    FactSpec("tags", "list", "tags", "?", values=("p", "q")),
)
tiny_kb = partial(knowledge_base, facts=FACTS, derived=("d",))

RULES = (
    rule("derive.one", "flag: true", derive=("d",)),
    rule("derive.two", "all: [{age: {gte: 18}}, {kind: x}]", derive=("d",)),
    rule("use.d", "all: [{d: true}, {tags: {contains: p}}, {tags: {contains: q}}]", kind="monitoring"),
    rule("either", "any: [{flag: true}, {age: {lt: 18}}]", priority=3, kind="monitoring"),
    rule("unknown.kind", "kind: {known: false}", kind="monitoring"),
    rule("not.in", "not: {kind: {in: [y]}}", kind="monitoring"),
)


@pytest.fixture(scope="module")
def engine() -> Any:
    made = DurableEngine(tiny_kb(*RULES))
    yield made
    made.close()


# ---------------------------------------------------------------- the patient's fact
def test_the_patient_fact_holds_every_fact_known_or_not_and_a_flag_per_list_value() -> None:
    """An unknown fact is `k_<name>: false` with no value (unknown is a positive test, not an absence
    of a field); a known list is one true-or-false field per allowed value."""
    kb = tiny_kb()
    assert patient_fact(kb, {"flag": False, "kind": "y", "tags": ["q"]}, "p7") == {
        "id": "patient", "sid": "p7", "name": PATIENT,
        "k_flag": True, "v_flag": False, "k_age": False, "k_kind": True, "v_kind": "y",
        "k_tags": True, "c_tags_0": False, "c_tags_1": True}
    assert patient_fact(kb, {"age": 0, "tags": []}) == {
        "id": "patient", "sid": "0", "name": PATIENT,
        "k_flag": False, "k_age": True, "v_age": 0, "k_kind": False, "k_tags": True, "c_tags_0": False, "c_tags_1": False}
    assert patient_fact(kb, {}) == {"id": "patient", "sid": "0", "name": PATIENT,
                                    "k_flag": False, "k_age": False, "k_kind": False, "k_tags": False}


# ---------------------------------------------------------------- patterns
def patterns(text: str) -> list[Any]:
    ruleset, _ = compile_rules(tiny_kb(rule("r", text, kind="monitoring")))
    return [ruleset[key]["all"] for key in ruleset if key != backend.ANCHOR]


def on_patient(*terms: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"p": {"$and": [{"name": PATIENT}, *terms]}}]


@pytest.mark.parametrize("text, expected", [
    ("flag: true", [on_patient({"k_flag": True}, {"v_flag": True})]),
    ("not: {flag: true}", [on_patient({"k_flag": True}, {"$neq": {"v_flag": True}})]),
    ("kind: {in: [x, y]}", [on_patient({"k_kind": True}, {"$or": [{"v_kind": "x"}, {"v_kind": "y"}]})]),
    ("not: {kind: {in: [x, y]}}", [on_patient({"k_kind": True}, {"$neq": {"v_kind": "x"}}, {"$neq": {"v_kind": "y"}})]),
    ("tags: {contains: p}", [on_patient({"k_tags": True}, {"c_tags_0": True})]),
    ("not: {tags: {contains: q}}", [on_patient({"k_tags": True}, {"c_tags_1": False})]),
    ("age: {known: true}", [on_patient({"k_age": True})]),
    ("age: {known: false}", [on_patient({"k_age": False})]),
    ("not: {age: {known: true}}", [on_patient({"k_age": False})]),
    ("age: {lt: 18}", [on_patient({"k_age": True}, {"$lt": {"v_age": 18}})]),
    ("age: {lte: 18}", [on_patient({"k_age": True}, {"$lte": {"v_age": 18}})]),
    ("age: {gt: 18}", [on_patient({"k_age": True}, {"$gt": {"v_age": 18}})]),
    ("not: {age: {gt: 18}}", [on_patient({"k_age": True}, {"$lte": {"v_age": 18}})]),
    # two tests on one fact: `k_age: true` is written once
    ("all: [{age: {gte: 18}}, {age: {lt: 65}}]", [on_patient({"k_age": True}, {"$gte": {"v_age": 18}}, {"$lt": {"v_age": 65}})]),
    ("all: [{age: {known: true}}, {age: {gte: 18}}]", [on_patient({"k_age": True}, {"$gte": {"v_age": 18}})]),
    # every input test of a conjunct is one pattern on the one patient fact
    ("all: [{tags: {contains: p}}, {tags: {contains: q}}, {flag: true}]",
     [on_patient({"k_tags": True}, {"c_tags_0": True}, {"c_tags_1": True}, {"k_flag": True}, {"v_flag": True})]),
    # a derived fact is a fact of its own; a conjunct of derived facts only does not read the patient
    ("all: [{d: true}, {flag: false}]", [on_patient({"k_flag": True}, {"v_flag": False}) + [{"d_0": {"name": "d"}}]]),
    ("d: true", [[{"d_0": {"name": "d"}}]]),
    # one durable rule per conjunct of the normal form
    ("any: [{flag: true}, {age: {lt: 18}}]",
     [on_patient({"k_flag": True}, {"v_flag": True}), on_patient({"k_age": True}, {"$lt": {"v_age": 18}})]),
])
def test_each_literal_compiles_to_its_exact_durable_pattern(text: str, expected: list[Any]) -> None:
    """The backend is sound only if each pattern says exactly what the three-valued evaluator judges."""
    assert patterns(text) == expected


def test_the_ruleset_names_each_conjunct_keeps_priority_and_knows_what_each_conjunct_reads() -> None:
    """Priority orders firings only when a rule sets one; each conjunct's facts, in the order of its
    tests, are what its firing records as matched."""
    kb = tiny_kb(rule("a", "any: [{flag: true}, {all: [{d: true}, {kind: x}, {tags: {contains: p}}, {kind: {known: true}}]}]",
                      priority=7, kind="monitoring"), rule("b", "flag: false", kind="monitoring"))
    ruleset, conjuncts = compile_rules(kb)
    assert list(ruleset) == [*conjuncts, backend.ANCHOR] and list(conjuncts) == ["a#0", "a#1", "b#0"]
    assert ruleset[backend.ANCHOR] == {"all": [{"p": {"name": PATIENT}}], "pri": 1_000_000}
    assert ruleset["a#0"]["pri"] == 7 and ruleset["a#1"]["pri"] == 7
    assert "pri" not in ruleset["b#0"]
    assert [conjunct.rule.id for conjunct in conjuncts.values()] == ["a", "a", "b"]
    assert conjuncts["a#1"].reads == (("d", "derived"), ("kind", "input"), ("tags", "input"))


def test_a_vocabulary_too_large_for_one_durable_fact_is_refused_by_name() -> None:
    """durable_rules holds at most 255 fields in a fact: past that it would fail on every patient."""
    many = tuple(FactSpec(f"fact_{index}", "number", "a number", "?") for index in range(127))
    with pytest.raises(EngineError) as caught:
        DurableEngine(tiny_kb(rule("r", "fact_0: {gt: 1}", kind="monitoring"), facts=many))
    assert str(caught.value) == ("the vocabulary's 127 facts need 257 fields in the patient's fact, "
                                 "and durable_rules holds at most 255 in one fact")
    fits = DurableEngine(tiny_kb(rule("r", "fact_0: {gt: 1}", kind="monitoring"), facts=many[:126]))
    assert [f.rule for f in fits.run({"fact_0": 2})] == ["r"]
    fits.close()


# ---------------------------------------------------------------- running
def test_a_patient_fires_in_chain_and_each_firing_records_what_it_matched(engine: DurableEngine) -> None:
    """The trace is the how-explanation: rule, matched facts with their values and origin, what it asserted."""
    trace = engine.run({"flag": True, "age": 30, "kind": "x", "tags": ["p", "q"]})
    by_rule = {firing.rule: firing for firing in trace}
    assert set(by_rule) == {"derive.one", "derive.two", "use.d", "either", "not.in"}
    assert [firing.order for firing in trace] == [1, 2, 3, 4, 5]
    first_derivation = min((by_rule["derive.one"], by_rule["derive.two"]), key=lambda f: f.order)
    later_derivation = max((by_rule["derive.one"], by_rule["derive.two"]), key=lambda f: f.order)
    assert first_derivation.asserted == ("d",) and later_derivation.asserted == ()  # derived once
    assert by_rule["derive.one"].matched == (MatchedFact("flag", True, "input"),)
    assert set(by_rule["derive.two"].matched) == {MatchedFact("age", 30, "input"), MatchedFact("kind", "x", "input")}
    use = by_rule["use.d"]
    assert use.order > first_derivation.order
    # both flags of one list are one matched fact: the list, with the patient's whole value
    assert sorted(use.matched, key=lambda m: m.name) == [MatchedFact("d", True, "derived"),
                                                         MatchedFact("tags", ["p", "q"], "input")]
    assert by_rule["not.in"].matched == (MatchedFact("kind", "x", "input"),)
    assert by_rule["either"] == Firing(by_rule["either"].order, "either", (MatchedFact("flag", True, "input"),), ())


def test_a_rule_fires_once_however_many_conjuncts_match(engine: DurableEngine) -> None:
    """`any` compiles to several durable rules; the clinician must still see one firing."""
    trace = engine.run({"flag": True, "age": 10})
    assert [firing.rule for firing in trace].count("either") == 1
    assert {firing.rule for firing in trace} == {"derive.one", "either", "unknown.kind"}


def test_an_unknown_fact_matches_only_a_known_false_test_and_is_recorded_as_unknown(engine: DurableEngine) -> None:
    """Unknown is not false: `not kind in [y]` needs a known kind; `kind is unknown` matches with value None."""
    trace = engine.run({"age": 17})
    assert sorted(f.order for f in trace) == [1, 2]
    assert sorted((f.rule, f.matched, f.asserted) for f in trace) == [
        ("either", (MatchedFact("age", 17, "input"),), ()),
        ("unknown.kind", (MatchedFact("kind", None, "input"),), ()),
    ]
    assert engine.run({"age": 18, "kind": "y"}) == []


def test_a_closed_engine_refuses_to_run_and_closing_twice_is_harmless() -> None:
    """A closed engine's C ruleset is freed; using it must fail loudly, never crash."""
    made = DurableEngine(tiny_kb(rule("r", "flag: true", kind="monitoring"), sha256="cd" * 32))
    assert [f.rule for f in made.run({"flag": True})] == ["r"]
    assert re.fullmatch(r"myoivig_cdcdcdcdcdcd_\d+", made.ruleset)
    made.close()
    made.close()
    with pytest.raises(EngineError) as caught:
        made.run({"flag": True})
    assert str(caught.value) == "this engine was closed; consult through engine_for(kb)"


def test_a_failing_rule_action_gives_no_advice_and_names_the_first_error(engine: DurableEngine,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """durable swallows errors in actions; the engine must surface the first one, not return a partial trace."""
    calls = iter(range(100))

    def broken(*args: Any) -> Firing:
        raise ValueError(f"boom {next(calls)}")
    monkeypatch.setattr(backend, "Firing", broken)
    with pytest.raises(EngineError) as caught:
        engine.run({"flag": True, "age": 10})
    assert str(caught.value) == "a rule action failed: ValueError('boom 0')"
    assert isinstance(caught.value.__cause__, ValueError)
    monkeypatch.undo()
    assert [f.rule for f in engine.run({"flag": True})].count("either") == 1  # the engine still works


def test_an_interrupt_inside_a_rule_action_is_never_swallowed(engine: DurableEngine,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM or Ctrl-C that lands inside an action is raised as it came (batch then exits 130), not
    turned into an engine error that lets a batch run on to the end."""
    def interrupted(*args: Any) -> Firing:
        raise KeyboardInterrupt("terminated")
    monkeypatch.setattr(backend, "Firing", interrupted)
    with pytest.raises(KeyboardInterrupt, match="terminated"):
        engine.run({"flag": True, "age": 10})
    monkeypatch.undo()
    assert [f.rule for f in engine.run({"flag": True})].count("either") == 1  # the engine still works


def test_a_durable_failure_is_an_engine_error_and_the_session_is_cleaned(engine: DurableEngine,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash inside durable_rules must reach the clinician as 'no advice', with durable's message, and
    the patient's session must still be deleted (durable holds at most 1,024)."""
    deleted: list[str] = []
    real_delete = backend.durable.delete_state

    def delete(handle: int, sid: str) -> None:
        deleted.append(sid)
        real_delete(handle, sid)

    def failing(handle: int, state: int) -> str:
        raise backend.durable.error("Could not complete and start action, error code: 307")
    monkeypatch.setattr(backend.durable, "delete_state", delete)
    monkeypatch.setattr(backend.durable, "complete_and_start_action", failing)
    with pytest.raises(EngineError) as caught:
        engine.run({"flag": True})
    assert str(caught.value) == "durable_rules failed on this patient: Could not complete and start action, error code: 307"
    assert isinstance(caught.value.__cause__, backend.durable.error)
    assert len(deleted) == 1 and deleted[0].startswith("p")
    monkeypatch.undo()
    assert [f.rule for f in engine.run({"flag": True})][:1] in (["derive.one"], ["either"])


def test_a_derived_fact_no_rule_reads_is_recorded_but_not_asserted(monkeypatch: pytest.MonkeyPatch) -> None:
    """durable refuses a fact no pattern takes; the trace still says the rule derived it."""
    made = DurableEngine(tiny_kb(rule("end", "flag: true", derive=("d",), kind="monitoring")))
    asserted: list[str] = []
    real_assert = backend.durable.assert_fact

    def spy(handle: int, fact: str) -> Any:
        asserted.append(fact)
        return real_assert(handle, fact)
    monkeypatch.setattr(backend.durable, "assert_fact", spy)
    assert made.run({"flag": True}) == [Firing(1, "end", (MatchedFact("flag", True, "input"),), ("d",))]
    assert len(asserted) == 1 and f'"name": "{PATIENT}"' in asserted[0]
    made.close()


def test_a_patient_no_rule_reads_fires_nothing_and_leaves_no_session() -> None:
    """With every rule on derived facts only, the anchor alone takes the patient's fact and fires
    (durable crashed deleting a session in which no action had started); each session is deleted."""
    made = DurableEngine(tiny_kb(rule("r", "d: true", kind="monitoring")))
    for _ in range(1100):  # past durable's 1,024 live sessions
        assert made.run({"flag": True}) == []
    made.close()


# ---------------------------------------------------------------- the cache
def test_the_cache_keeps_the_most_recently_used_engines_and_closes_the_oldest() -> None:
    """`kb diff` alternates knowledge bases: a hit refreshes an engine, only the least recent is closed."""
    cache = backend._EngineCache(size=2)
    assert backend._EngineCache().size == 4
    kbs = [tiny_kb(rule("r", "flag: true", kind="monitoring"), sha256=f"{index:064d}") for index in range(3)]
    first, second = cache.get(kbs[0]), cache.get(kbs[1])
    assert cache.get(kbs[0]) is first          # a hit: the same engine, now the most recent
    third = cache.get(kbs[2])                  # evicts the second, not the first
    assert second._closed and not first._closed and not third._closed
    assert cache.get(dataclasses.replace(kbs[0])) is first
    assert cache.get(kbs[1]) is not second     # rebuilt; now the third (least recent) goes
    assert third._closed and not first._closed
    cache.clear()
    assert first._closed
    assert cache.get(kbs[0]) is not first
    cache.clear()


def test_a_cache_of_one_closes_the_previous_engine_at_once() -> None:
    """At the boundary of the cache size an engine is kept; one more closes one."""
    cache = backend._EngineCache(size=1)
    one = cache.get(tiny_kb(rule("r", "flag: true", kind="monitoring"), sha256="1" * 64))
    assert not one._closed
    two = cache.get(tiny_kb(rule("r", "flag: true", kind="monitoring"), sha256="2" * 64))
    assert one._closed and not two._closed
    cache.clear()
    assert two._closed
