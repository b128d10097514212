"""The meaning of a knowledge base: names, types and values in rules, quotes, derivations, order.

The form was checked first (engine/schema_check.py); each check here reports through `findings`
(the loader's collector), so one run lists every problem.
"""
from __future__ import annotations

from typing import Any, Protocol

from . import conditions as cond
from .dose import BODY_FACTS
from .model import DerivedSpec, FactSpec, Reference, Rule
from .suggestions import did_you_mean
from .yamlio import position


class Findings(Protocol):
    def problem(self, file: str, line: int, column: int, message: str,
                rule: str | None = None, hint: str | None = None, severity: str = "error") -> None: ...

    def shown(self, kb_file: str) -> str: ...


def check_vocabulary(reader: Findings, facts: dict[str, FactSpec], doc: Any, file: str) -> None:
    for name in doc.get("derived") or {}:
        if name in facts:  # a rule would read the answer before its producers run, and the result afterwards
            line, column = position(doc, ["derived", name])
            reader.problem(file, line, column, f"'{name}' is both an input fact and a derived fact",
                           hint="rename one of them")
    owners: dict[str, str] = {}
    for name, spec in facts.items():
        for synonym in spec.synonyms:
            line, column = position(doc, ["facts", name, "synonyms"])
            if synonym in facts or synonym in owners:
                reader.problem(file, line, column, f"synonym '{synonym}' of '{name}' is already "
                               f"{'a fact' if synonym in facts else 'a synonym of ' + repr(owners[synonym])}")
            owners[synonym] = name
        if spec.units and (spec.type != "number" or spec.units.get(spec.unit or "") != 1):
            line, column = position(doc, ["facts", name, "units"])
            reader.problem(file, line, column, f"units of '{name}' need a number fact and its own unit "
                           f"'{spec.unit}' at 1")
        if spec.range is not None and spec.range[0] > spec.range[1]:
            line, column = position(doc, ["facts", name, "range"])
            reader.problem(file, line, column, f"the range of '{name}' is inverted: "
                           f"{spec.range[0]:g} is above {spec.range[1]:g}", hint="write [lowest, highest]")


def check_rules(reader: Findings, rules: list[Rule], facts: dict[str, FactSpec],
                derived: dict[str, DerivedSpec], references: dict[str, Reference], document: str,
                vocabulary_file: str) -> None:
    seen: dict[str, Rule] = {}
    known_names = list(facts) + list(derived)
    for rule in rules:
        def problem(message: str, line: int = rule.line, column: int = 1, hint: str | None = None,
                    rule: Rule = rule) -> None:
            reader.problem(reader.shown(rule.file), line, column, message, rule.id, hint)

        if rule.id in seen:
            problem(f"duplicate rule id (first defined at {seen[rule.id].where})",
                    hint="give every rule its own id")
        seen.setdefault(rule.id, rule)
        for test in cond.tests(rule.when):
            check_test(test, facts, derived, known_names, problem)
        for test in cond.negated_tests(rule.when):
            if test.fact in derived:
                problem(f"negation over the derived fact '{test.fact}' cannot be evaluated soundly "
                        "by the forward-chaining engine", test.line, test.column,
                        hint="negate the input facts it is derived from instead")
        for name in rule.derive:
            if name not in derived:
                problem(f"derives '{name}', which vocabulary.yaml does not declare under 'derived'",
                        hint=did_you_mean(name, derived) or "declare it under 'derived' in vocabulary.yaml")
        for quote in rule.provenance.sources:
            if quote.ref not in references:
                problem(f"cites reference [{quote.ref}], which sources.yaml does not list",
                        hint=f"known references: {', '.join(sorted(references))}")
            elif document and quote.quote not in document:  # no document: its read error is the problem
                problem(f"the quote for [{quote.ref}] is not in the source document word for word: "
                        f"\"{quote.quote[:60]}...\"", hint="copy the sentence from source_document.txt")
        if rule.dose is not None and (rule.conclude is None or rule.conclude.kind != "dosing"):
            problem("only a rule concluding kind 'dosing' may carry a 'dose' block")
        if rule.dose is not None and "base_kg" in rule.dose:
            check_weight_facts(rule, facts, problem)
        if rule.conclude and rule.conclude.therapy_class and rule.conclude.kind != "combination":
            problem("'therapy_class' belongs to conclusions of kind 'combination'")
        if rule.conclude and rule.conclude.outside_scope and rule.conclude.kind != "scope":
            problem("'outside_scope' belongs to conclusions of kind 'scope'")
        if rule.conclude and rule.conclude.strength and rule.conclude.kind != "indication":
            problem("'strength' belongs to conclusions of kind 'indication' (a route to IVIG)")
        if rule.conclude and rule.conclude.withholds_dose and rule.conclude.kind != "warning":
            problem("'withholds_dose' belongs to conclusions of kind 'warning' (a fact to check before any dose)")
    for rule in rules:
        for excluded in rule.excludes.rules if rule.excludes else ():
            if excluded not in seen:
                reader.problem(reader.shown(rule.file), rule.line, 1, f"excludes unknown rule '{excluded}'", rule.id,
                               did_you_mean(excluded, seen))
    produced = {name for rule in rules for name in rule.derive}
    used = {t.fact for rule in rules for t in cond.tests(rule.when) if t.fact in derived}
    for name, spec in derived.items():
        if name in used and name not in produced:
            reader.problem(vocabulary_file, spec.line, 3,
                           f"derived fact '{name}' is used but no rule derives it",
                           hint="add a rule with `derive: [" + name + "]` or stop using it")
        elif name not in used and name not in produced:
            reader.problem(vocabulary_file, spec.line, 3,
                           f"derived fact '{name}' is declared but neither derived nor used",
                           severity="warning", hint="remove it from vocabulary.yaml")


def check_weight_facts(rule: Rule, facts: dict[str, FactSpec], problem: Any) -> None:
    """The dose arithmetic reads sex, height_cm and weight_kg: they must be there, of the right type,
    and the weight formula must have a base weight for every value of sex."""
    sex = facts.get("sex")
    if sex is None or sex.type != "enum":
        problem("the ideal-body-weight dose block needs an enum fact 'sex' in vocabulary.yaml")
    elif set(sex.values) != set(rule.dose["base_kg"]):  # type: ignore[index]
        problem(f"base_kg gives weights for {', '.join(sorted(rule.dose['base_kg']))}, but 'sex' takes "  # type: ignore[index]
                f"{', '.join(sex.values)}", hint="give one base weight per value of sex")
    for name in BODY_FACTS[1:]:
        if name not in facts or facts[name].type != "number":
            problem(f"the ideal-body-weight dose block needs a number fact '{name}' in vocabulary.yaml")


def check_test(test: cond.Test, facts: dict[str, FactSpec], derived: dict[str, DerivedSpec],
               known_names: list[str], problem: Any) -> None:
    def bad(message: str, hint: str | None = None) -> None:
        problem(message, test.line, test.column, hint)

    if test.fact in derived:
        if test.op != "equals" or test.value is not True:
            bad(f"a derived fact is tested only as `{test.fact}: true`")
        return
    spec = facts.get(test.fact)
    if spec is None:
        bad(f"unknown fact '{test.fact}'", did_you_mean(test.fact, known_names)
            or "facts are declared in vocabulary.yaml")
        return
    if test.op == "known":
        return
    if test.op in cond.COMPARISONS and spec.type != "number":
        bad(f"'{test.op}' compares numbers, but '{test.fact}' is of type {spec.type}")
    elif test.op in cond.COMPARISONS and (isinstance(test.value, bool) or not isinstance(test.value, (int, float))):
        bad(f"'{test.op}' compares '{test.fact}' with a number, not {test.value!r}")
    elif test.op in cond.COMPARISONS and not cond.is_exact_number(test.value):
        bad(f"threshold {test.value!r} on '{test.fact}' has more than {cond.NUMBER_PLACES} decimal places "
            "or an exponent; patient numbers are read to that precision",
            f"write it as {cond.exact_number(test.value)!r} or a plain decimal")
    elif test.op == "contains":
        if spec.type != "list":
            bad(f"'contains' applies to list facts, but '{test.fact}' is of type {spec.type}")
        elif test.value not in spec.values:
            bad(f"'{test.value}' is not a value of '{test.fact}'",
                did_you_mean(str(test.value), spec.values) or f"allowed: {', '.join(spec.values)}")
    elif test.op in ("equals", "in"):
        values = test.value if test.op == "in" else (test.value,)
        if spec.type == "list":
            bad(f"'{test.fact}' is a list: test it with 'contains'")
            return
        for value in values:
            if spec.type == "bool" and not isinstance(value, bool):
                bad(f"'{test.fact}' is true or false, not {value!r}")
            elif spec.type == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                bad(f"'{test.fact}' is a number, not {value!r}")
            elif spec.type == "number" and not cond.is_exact_number(value):
                bad(f"{value!r} on '{test.fact}' has more than {cond.NUMBER_PLACES} decimal places or an "
                    "exponent; patient numbers are read to that precision")
            elif spec.type == "enum" and value not in spec.values:
                bad(f"'{value}' is not a value of '{test.fact}'",
                    did_you_mean(str(value), spec.values) or f"allowed: {', '.join(spec.values)}")


def order(reader: Findings, rules: list[Rule], derived: dict[str, DerivedSpec]) -> list[Rule]:
    """Rules sorted so that every derived fact's producers come before its users."""
    producers: dict[str, list[Rule]] = {}
    for rule in rules:
        for name in rule.derive:
            producers.setdefault(name, []).append(rule)
    ordered: list[Rule] = []
    state: dict[str, str] = {}

    def visit(rule: Rule, chain: list[str]) -> None:
        if state.get(rule.id) == "done":
            return
        if state.get(rule.id) == "active":
            cycle = " -> ".join(chain[chain.index(rule.id):] + [rule.id])
            reader.problem(reader.shown(rule.file), rule.line, 1, f"derived facts form a cycle: {cycle}", rule.id,
                           "a derived fact may not depend on itself")
            return
        state[rule.id] = "active"
        for test in cond.tests(rule.when):
            for producer in producers.get(test.fact, []):
                visit(producer, chain + [rule.id])
        state[rule.id] = "done"
        ordered.append(rule)

    for rule in rules:
        visit(rule, [])
    return ordered
