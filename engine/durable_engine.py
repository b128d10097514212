"""The durable_rules backend: the only module that imports durable.

One fact per patient. Every input fact is a pair of fields of that one fact:
`k_<name>` says whether it is known (an unknown fact is `k_<name>: false` and has
no value field, so "unknown" is a positive test), `v_<name>` holds its value, and a
list fact has one true-or-false field per allowed value, `c_<name>_<index>`.
Each conjunct of a rule's normal form becomes one durable rule: one pattern on the
patient fact for all its input tests, and one pattern per derived fact it reads.
The only negation left is inside the pattern on the patient fact, over input
values, which durable_rules evaluates soundly (see ../shared/DESIGN.md).

A derived fact is its own fact, asserted when the first rule deriving it fires,
and only if some rule reads it: durable refuses a fact that no pattern takes.

durable_rules has no trace API. Each durable rule's name is its conjunct
(`rule.id#index`), and what the conjunct matched is known when it is compiled,
so the engine records every firing itself: the rule, the facts it matched with
their values, and what it asserted.

The engine drives durable's C engine directly (`durable_rules_engine`): assert
the patient fact, then take each action durable starts, in durable's order (the
lowest-numbered rule with a complete match first), until none is left. This
skips durable's Python `Host`, which would serialise the session's state after
every action and start two timer threads per host that race the caller inside
the C engine (random "error code: 307" and segmentation faults, measured here).
"""
from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as durable

from . import conditions as cond
from .errors import EngineError
from .model import Firing, KnowledgeBase, MatchedFact, Rule

PATIENT = "$patient"
"""The name of the one fact that carries a patient's input facts."""

ANCHOR = "$anchor"
"""A durable rule that takes every patient fact, fires once per patient, last, and does nothing.

durable_rules initialises a session's action context only when it starts an action, and deleting
a session whose context was never initialised frees garbage: measured here as segmentation faults
on patients no rule matched. The anchor gives every session one action (durable's own `Host` had
the same effect, with a catch-all rule for facts no pattern takes).
"""

MAX_FIELDS = 255
"""durable_rules' limit on one fact's fields (MAX_OBJECT_PROPERTIES in its state.h)."""

# durable's C engine keeps global tables (ruleset and state handles): one call into it at a
# time per process, whichever engine and thread it comes from.
_DURABLE = threading.Lock()


def known_field(name: str) -> str:
    return f"k_{name}"


def value_field(name: str) -> str:
    return f"v_{name}"


def flag_field(kb: KnowledgeBase, name: str, value: str) -> str:
    """The field of one allowed value of a list fact: true when the list holds it."""
    return f"c_{name}_{kb.facts[name].values.index(value)}"


def patient_fact(kb: KnowledgeBase, facts: Mapping[str, Any], sid: str = "0") -> dict[str, Any]:
    """The one fact asserted for a patient: every vocabulary fact, known or not."""
    fact: dict[str, Any] = {"id": "patient", "sid": sid, "name": PATIENT}
    for name, spec in kb.facts.items():
        known = name in facts
        fact[known_field(name)] = known
        if not known:
            continue
        if spec.type == "list":
            for index, value in enumerate(spec.values):
                fact[f"c_{name}_{index}"] = value in facts[name]
        else:
            fact[value_field(name)] = facts[name]
    return fact


def _terms(kb: KnowledgeBase, literal: cond.Literal) -> list[dict[str, Any]]:
    """The tests of one literal on the patient fact; a value is tested only when it is known."""
    test = literal.test
    known = known_field(test.fact)
    if test.op == "known":
        return [{known: bool(test.value)}]
    if test.op == "contains":
        return [{known: True}, {flag_field(kb, test.fact, test.value): not literal.negated}]
    value = value_field(test.fact)
    if test.op == "equals":
        return [{known: True}, {"$neq": {value: test.value}} if literal.negated else {value: test.value}]
    if test.op == "in":
        if literal.negated:
            return [{known: True}] + [{"$neq": {value: item}} for item in test.value]
        return [{known: True}, {"$or": [{value: item} for item in test.value]}]
    return [{known: True}, {f"${test.op}": {value: test.value}}]


@dataclass(frozen=True)
class Conjunct:
    """One durable rule: the YAML rule it belongs to and the facts a match of it rests on, in order."""

    rule: Rule
    reads: tuple[tuple[str, str], ...]  # (fact name, "input" or "derived"), each once


def compile_rules(kb: KnowledgeBase) -> tuple[dict[str, Any], dict[str, Conjunct]]:
    """The ruleset as plain data (durable's JSON form), one entry per conjunct, and what each one reads."""
    ruleset: dict[str, Any] = {}
    conjuncts: dict[str, Conjunct] = {}
    for rule in kb.rules:
        for index, literals in enumerate(cond.to_dnf(rule.when)):
            terms: list[dict[str, Any]] = []
            derived: list[str] = []
            reads: list[tuple[str, str]] = []
            for literal in literals:
                name = literal.test.fact
                origin = "derived" if name in kb.derived else "input"
                if origin == "derived" and name not in derived:
                    derived.append(name)
                terms += [term for term in _terms(kb, literal) if origin == "input" and term not in terms]
                if (name, origin) not in reads:
                    reads.append((name, origin))
            patterns: list[dict[str, Any]] = []
            if terms or not derived:  # a conjunct of derived facts only does not read the patient
                patterns.append({"p": {"$and": [{"name": PATIENT}, *terms]}})
            patterns += [{f"d_{i}": {"name": name}} for i, name in enumerate(derived)]
            entry: dict[str, Any] = {"all": patterns}
            if rule.priority:
                entry["pri"] = rule.priority
            key = f"{rule.id}#{index}"
            ruleset[key] = entry
            conjuncts[key] = Conjunct(rule, tuple(reads))
    ruleset[ANCHOR] = {"all": [{"p": {"name": PATIENT}}], "pri": 1_000_000}
    return ruleset, conjuncts


def read_by_rules(kb: KnowledgeBase) -> frozenset[str]:
    """The derived facts some rule tests: the only ones asserted into working memory."""
    return frozenset(test.fact for rule in kb.rules for test in cond.tests(rule.when) if test.fact in kb.derived)


class DurableEngine:
    """A compiled knowledge base: one durable_rules ruleset, one session per patient.

    Each patient's session is deleted afterwards (durable holds at most 1,024).
    An engine must be used by one thread at a time; `close` frees its C ruleset.
    """

    _counter = itertools.count(1)

    def __init__(self, kb: KnowledgeBase) -> None:
        fields = 3 + sum(1 + (len(spec.values) if spec.type == "list" else 1) for spec in kb.facts.values())
        if fields > MAX_FIELDS:
            raise EngineError(f"the vocabulary's {len(kb.facts)} facts need {fields} fields in the patient's "
                              f"fact, and durable_rules holds at most {MAX_FIELDS} in one fact")
        self.kb = kb
        self.ruleset = f"myoivig_{kb.sha256[:12]}_{next(self._counter)}"
        self._closed = False
        self._sessions = itertools.count(1)
        rules, self._conjuncts = compile_rules(kb)
        self._read = read_by_rules(kb)
        with _DURABLE:
            self._handle: int = durable.create_ruleset(self.ruleset, json.dumps(rules, ensure_ascii=False))

    def close(self) -> None:
        """Free the C engine's ruleset (about 0.7 MB)."""
        with _DURABLE:
            if not self._closed:
                self._closed = True
                durable.delete_ruleset(self._handle)

    def run(self, facts: Mapping[str, Any]) -> list[Firing]:
        """Forward-chain one patient's facts to quiescence; return the firings in order."""
        with _DURABLE:
            if self._closed:
                raise EngineError("this engine was closed; consult through engine_for(kb)")
            sid = f"p{next(self._sessions)}"
            state = self._assert(patient_fact(self.kb, facts, sid))
            try:
                return self._chain(facts, sid, state)
            finally:
                durable.delete_state(self._handle, sid)

    def _assert(self, fact: dict[str, Any]) -> int:
        """Assert one fact, which some pattern must take; the handle of its session."""
        try:
            status, state = durable.assert_fact(self._handle, json.dumps(fact, ensure_ascii=False))
        except durable.error as exc:
            raise EngineError(f"durable_rules failed on this patient: {exc}") from exc
        if status != 0:  # 1: no pattern took it; 2: already asserted
            raise EngineError(f"durable_rules refused a fact of this patient (status {status})")
        return int(state)

    def _chain(self, facts: Mapping[str, Any], sid: str, state: int) -> list[Firing]:
        firings: list[Firing] = []
        derived: set[str] = set()
        fired: set[str] = set()
        handle = self._handle
        try:
            started = durable.start_action_for_state(handle, state)
            message: str | None = started[1] if started else None
            while message:
                # the message is {"<rule.id>#<index>": {...matched facts...}}: only its name is needed
                conjunct = self._conjuncts.get(message[2:message.index('"', 2)])  # None: the anchor
                if conjunct and conjunct.rule.id not in fired:  # another conjunct of the rule may match too
                    fired.add(conjunct.rule.id)
                    self._fire(conjunct, facts, derived, firings, sid)
                message = durable.complete_and_start_action(handle, state)
        except durable.error as exc:
            raise EngineError(f"durable_rules failed on this patient: {exc}") from exc
        except EngineError:
            raise
        except Exception as exc:  # an interrupt (Ctrl-C, SIGTERM as KeyboardInterrupt) is raised as it came
            raise EngineError(f"a rule action failed: {exc!r}") from exc
        return firings

    def _fire(self, conjunct: Conjunct, facts: Mapping[str, Any], derived: set[str], firings: list[Firing],
              sid: str) -> None:
        rule = conjunct.rule
        matched = tuple(MatchedFact(name, facts.get(name) if origin == "input" else True, origin)
                        for name, origin in conjunct.reads)
        asserted = tuple(name for name in rule.derive if name not in derived)
        derived.update(asserted)
        firings.append(Firing(len(firings) + 1, rule.id, matched, asserted))
        for name in asserted:
            if name in self._read:
                self._assert({"id": f"d:{name}", "sid": sid, "name": name})


class _EngineCache:
    """One compiled engine per knowledge-base checksum; the least recently used is closed.

    A few are kept, not one: `kb diff` alternates two knowledge bases patient by
    patient, and rebuilding an engine per patient costs a ruleset compilation.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._engines: OrderedDict[str, DurableEngine] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kb: KnowledgeBase) -> DurableEngine:
        with self._lock:
            engine = self._engines.get(kb.sha256)
            if engine is None:
                engine = self._engines[kb.sha256] = DurableEngine(kb)
                while len(self._engines) > self.size:
                    self._engines.popitem(last=False)[1].close()
            self._engines.move_to_end(kb.sha256)
            return engine

    def clear(self) -> None:
        with self._lock:
            while self._engines:
                self._engines.popitem()[1].close()


ENGINES = _EngineCache()


def engine_for(kb: KnowledgeBase) -> DurableEngine:
    """The process's engine for this knowledge base's content (same checksum, same rules)."""
    return ENGINES.get(kb)
