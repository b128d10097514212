"""The durable_rules backend, whole, on a tiny knowledge base: the exact working memory (known and
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
from myoivig.engine.durable_engine import DurableEngine, compile_rules, working_memory
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


# ---------------------------------------------------------------- working memory
def test_working_memory_holds_every_fact_known_or_not_and_a_flag_per_list_value() -> None:
    """Unknown facts are asserted as `known: false` (unknown is a positive pattern, not an absence)."""
    kb = tiny_kb(facts=FACTS, derived=("d",))
    assert working_memory(kb, {"flag": False, "kind": "y", "tags": ["q"]}) == [
        {"id": "in:flag", "name": "flag", "known": True, "value": False},
        {"id": "in:age", "name": "age", "known": False},
        {"id": "in:kind", "name": "kind", "known": True, "value": "y"},
        {"id": "in:tags", "name": "tags", "known": True},
        {"id": "in:tags:p", "name": "tags:p", "known": True, "list": "tags", "value": False},
        {"id": "in:tags:q", "name": "tags:q", "known": True, "list": "tags", "value": True},
    ]
    assert working_memory(kb, {"age": 0, "tags": []})[1:] == [
        {"id": "in:age", "name": "age", "known": True, "value": 0},
        {"id": "in:kind", "name": "kind", "known": False},
        {"id": "in:tags", "name": "tags", "known": True},
        {"id": "in:tags:p", "name": "tags:p", "known": True, "list": "tags", "value": False},
        {"id": "in:tags:q", "name": "tags:q", "known": True, "list": "tags", "value": False},
    ]
    assert working_memory(kb, {})[-2:] == [
        {"id": "in:tags:p", "name": "tags:p", "known": False, "list": "tags"},
        {"id": "in:tags:q", "name": "tags:q", "known": False, "list": "tags"},
    ]


# ---------------------------------------------------------------- patterns
def patterns(text: str) -> list[dict[str, Any]]:
    ruleset = compile_rules(tiny_kb(rule("r", text, kind="monitoring")), lambda r: print)
    return [ruleset[key]["all"] for key in ruleset if key != "$sink"]


@pytest.mark.parametrize("text, expected", [
    ("flag: true", [[{"f_0": {"$and": [{"name": "flag"}, {"known": True}, {"value": True}]}}]]),
    ("not: {flag: true}", [[{"f_0": {"$and": [{"name": "flag"}, {"known": True}, {"$neq": {"value": True}}]}}]]),
    ("kind: {in: [x, y]}", [[{"f_0": {"$and": [{"name": "kind"}, {"known": True},
                                                {"$or": [{"value": "x"}, {"value": "y"}]}]}}]]),
    ("not: {kind: {in: [x, y]}}", [[{"f_0": {"$and": [{"name": "kind"}, {"known": True},
                                                       {"$neq": {"value": "x"}}, {"$neq": {"value": "y"}}]}}]]),
    ("tags: {contains: p}", [[{"f_0": {"$and": [{"name": "tags:p"}, {"known": True}, {"value": True}]}}]]),
    ("not: {tags: {contains: p}}", [[{"f_0": {"$and": [{"name": "tags:p"}, {"known": True}, {"value": False}]}}]]),
    ("age: {known: true}", [[{"f_0": {"$and": [{"name": "age"}, {"known": True}]}}]]),
    ("age: {known: false}", [[{"f_0": {"$and": [{"name": "age"}, {"known": False}]}}]]),
    ("not: {age: {known: true}}", [[{"f_0": {"$and": [{"name": "age"}, {"known": False}]}}]]),
    ("age: {lt: 18}", [[{"f_0": {"$and": [{"name": "age"}, {"known": True}, {"$lt": {"value": 18}}]}}]]),
    ("age: {lte: 18}", [[{"f_0": {"$and": [{"name": "age"}, {"known": True}, {"$lte": {"value": 18}}]}}]]),
    ("age: {gt: 18}", [[{"f_0": {"$and": [{"name": "age"}, {"known": True}, {"$gt": {"value": 18}}]}}]]),
    ("not: {age: {gt: 18}}", [[{"f_0": {"$and": [{"name": "age"}, {"known": True}, {"$lte": {"value": 18}}]}}]]),
    # two tests on one fact share one pattern, and `known: true` is written once
    ("all: [{age: {gte: 18}}, {age: {lt: 65}}]",
     [[{"f_0": {"$and": [{"name": "age"}, {"known": True}, {"$gte": {"value": 18}}, {"$lt": {"value": 65}}]}}]]),
    # a `known` test before a comparison on the same fact: the comparison still follows it
    ("all: [{age: {known: true}}, {age: {gte: 18}}]",
     [[{"f_0": {"$and": [{"name": "age"}, {"known": True}, {"$gte": {"value": 18}}]}}]]),
    # two values of one list are two working-memory facts: two patterns
    ("all: [{tags: {contains: p}}, {tags: {contains: q}}, {flag: true}]",
     [[{"f_0": {"$and": [{"name": "tags:p"}, {"known": True}, {"value": True}]}},
       {"f_1": {"$and": [{"name": "tags:q"}, {"known": True}, {"value": True}]}},
       {"f_2": {"$and": [{"name": "flag"}, {"known": True}, {"value": True}]}}]]),
    # one durable rule per conjunct of the normal form
    ("any: [{flag: true}, {age: {lt: 18}}]",
     [[{"f_0": {"$and": [{"name": "flag"}, {"known": True}, {"value": True}]}}],
      [{"f_0": {"$and": [{"name": "age"}, {"known": True}, {"$lt": {"value": 18}}]}}]]),
])
def test_each_literal_compiles_to_its_exact_durable_pattern(text: str, expected: list[Any]) -> None:
    """The backend is sound only if each pattern says exactly what the three-valued evaluator judges."""
    assert patterns(text) == expected

tiny_kb = partial(knowledge_base, facts=FACTS, derived=("d",))


def test_the_ruleset_names_each_conjunct_keeps_priority_and_ends_with_a_sink() -> None:
    """Priority orders firings only when a rule sets one; the sink swallows every other fact."""
    action = object()
    ruleset = compile_rules(tiny_kb(rule("a", "any: [{flag: true}, {kind: x}]", priority=7, kind="monitoring"), rule("b", "flag: false", kind="monitoring")),
                            lambda r: action)  # type: ignore[arg-type,return-value]
    assert list(ruleset) == ["a#0", "a#1", "b#0", "$sink"]
    assert ruleset["a#0"]["pri"] == 7 and ruleset["a#1"]["pri"] == 7
    assert "pri" not in ruleset["b#0"]
    assert ruleset["a#0"]["run"] is action and ruleset["b#0"]["run"] is action
    sink = ruleset["$sink"]
    assert sink["all"] == [{"m": {"$ex": {"name": 1}}}] and sink["pri"] == 1_000_000
    assert sink["run"](None) is None


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
    """A crash inside durable_rules must reach the clinician as 'no advice', with durable's message."""
    def failing(ruleset: str, facts: list[dict[str, Any]]) -> None:
        raise RuntimeError("error code: 307")
    monkeypatch.setattr(engine._host, "assert_facts", failing)
    with pytest.raises(EngineError) as caught:
        engine.run({"flag": True})
    assert str(caught.value) == "durable_rules failed on this patient: error code: 307"
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert engine._runs == {}  # private, but the only sign the session's state was dropped
    monkeypatch.undo()
    assert [f.rule for f in engine.run({"flag": True})][:1] in (["derive.one"], ["either"])


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
