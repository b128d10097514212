"""The direct evaluator: the rules judged in three-valued logic, without durable_rules.

It walks the rules in dependency order once (derived facts are never negated,
so one pass reaches the fixpoint). The production path is the durable_rules
backend; this one answers "could it fire if we knew more?" and is the oracle the
tests hold the backend to.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import conditions as cond
from .conditions import Truth
from .model import KnowledgeBase


@dataclass(frozen=True)
class Evaluation:
    rules: Mapping[str, Truth]
    derived: Mapping[str, Truth]
    order: tuple[str, ...]
    changed: tuple[int, ...] = ()  # evaluate_changed: the positions of the rules whose truth changed

    @property
    def fired(self) -> list[str]:
        return [rule for rule in self.order if self.rules[rule] is True]

    def view(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """Input facts plus derived facts that are not unknown: what a condition sees."""
        view = dict(facts)
        view.update({name: truth for name, truth in self.derived.items() if truth is not None})
        return view


def _or(left: Truth, right: Truth) -> Truth:
    if left is True or right is True:
        return True
    if left is None or right is None:
        return None
    return False


def evaluate_rules(kb: KnowledgeBase, facts: Mapping[str, Any], open_world: bool = False) -> Evaluation:
    """Every rule's three-valued truth for these input facts (see conditions.evaluate_test)."""
    derived: dict[str, Truth] = {name: False for name in kb.derived}
    rules: dict[str, Truth] = {}
    view = dict(facts)
    for rule, closed, open_ in kb.evaluators:
        truth = (open_ if open_world else closed)(view)
        rules[rule.id] = truth
        for name in rule.derive:
            derived[name] = _or(derived[name], truth)
            if derived[name] is None:
                view.pop(name, None)
            else:
                view[name] = derived[name]
    return Evaluation(rules, derived, tuple(rule.id for rule in kb.rules))


def evaluate_changed(kb: KnowledgeBase, base: Evaluation, facts: Mapping[str, Any],
                     changes: Mapping[str, Any], base_view: Mapping[str, Any] | None = None) -> Evaluation:
    """evaluate_rules(kb, {**facts, **changes}), given `base` = evaluate_rules(kb, facts): in rule order,
    a rule downstream of the changed facts is evaluated again only if it tests a changed fact or a
    derived fact whose truth changed. A derived fact is folded again from all its producers (their
    truths new or, if untouched, as they were); every producer comes before every user, so a user
    sees it final."""
    downstream = kb.downstream
    if len(changes) == 1:
        positions: Iterable[int] = downstream[next(iter(changes))]  # already in rule order
    else:
        positions = sorted({i for name in changes for i in downstream[name]})
    if not positions:
        return replace(base, changed=())
    rules = dict(base.rules)
    derived = dict(base.derived)
    view = dict(base_view) if base_view is not None else base.view(facts)  # base_view: base.view(facts), kept
    view.update(changes)
    dirty = set(changes)
    changed: list[int] = []
    evaluators, producers, tested = kb.evaluators, kb.producers, kb.tested
    for position in positions:
        if dirty.isdisjoint(tested[position]):
            continue  # what it tests is as it was: so is its truth
        rule, closed, _ = evaluators[position]
        truth = closed(view)
        if truth == rules[rule.id]:
            continue
        rules[rule.id] = truth
        changed.append(position)
        for name in rule.derive:
            folded: Truth = False
            for producer in producers[name]:
                folded = _or(folded, rules[producer])
            if folded == derived[name]:
                continue
            derived[name] = folded
            dirty.add(name)
            if folded is None:
                view.pop(name, None)
            else:
                view[name] = folded
    return Evaluation(rules, derived, base.order, tuple(changed))


def input_dependencies(kb: KnowledgeBase, settled: frozenset[str] = frozenset(),
                       closed: frozenset[str] = frozenset()) -> dict[str, frozenset[str]]:
    """For each rule, the input facts its condition rests on, through derived facts too.

    A derived fact in `settled` is already true and stays true (no rule negates one),
    so what it was derived from no longer matters; a producer in `closed` cannot fire whatever
    the unknown facts turn out to be (IBM closes the severity route), so its inputs do not count.
    """
    producers = kb.producers
    deps: dict[str, frozenset[str]] = {}
    for rule, tested in zip(kb.rules, kb.tested, strict=True):  # dependency order: producers are done first
        found = set(tested & kb.facts.keys())
        for name in tested:
            if name not in settled:
                for producer in producers.get(name, ()):
                    if producer not in closed:
                        found |= deps[producer]
        deps[rule.id] = frozenset(found)
    return deps


def upstream_rules(kb: KnowledgeBase) -> dict[str, frozenset[str]]:
    """For each rule, itself and every rule whose derived facts it (transitively) rests on."""
    producers = kb.producers
    upstream: dict[str, frozenset[str]] = {}
    for rule in kb.rules:  # dependency order
        found = {rule.id}
        for test in cond.tests(rule.when):
            for producer in producers.get(test.fact, ()):
                found |= upstream[producer]
        upstream[rule.id] = frozenset(found)
    return upstream
