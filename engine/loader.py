"""Load a knowledge-base folder into the typed model, or fail with file and line.

Loading is checking: the form against the published JSON Schema, then the
meaning (fact names, values, quotes, derivations). A knowledge base with any
error never reaches the engine.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from . import conditions as cond
from .errors import KnowledgeBaseError, Problem
from .model import ConclusionSpec, DerivedSpec, Exclusion, FactSpec, KnowledgeBase, Provenance, Quote, Reference, Rule
from .validate import lint_rules
from .yamlio import YamlProblem, position, read_yaml

SCHEMA_PATH = Path(__file__).parent / "schema" / "knowledge_base.schema.json"
DEFAULT_KB = Path(__file__).resolve().parent.parent / "knowledge_base"


def default_kb_path() -> Path:
    """The shipped knowledge base (installed as package data beside the engine)."""
    return DEFAULT_KB


@cache
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_kinds() -> list[str]:
    """The conclusion kinds the published schema allows (a test holds them to model.KINDS)."""
    return list(_schema()["$defs"]["rule"]["properties"]["conclude"]["properties"]["kind"]["enum"])


def schema_problems(document: Any, definition: str, file: str) -> list[Problem]:
    """Check one parsed YAML document against a definition of the schema."""
    schema = dict(_schema())
    schema["$ref"] = f"#/$defs/{definition}"
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        best = jsonschema.exceptions.best_match([error])
        path = list(best.absolute_path)
        line, column = position(document, path)
        node = _at(document, path)
        keys = getattr(node, "key_positions", {})
        if isinstance(best.instance, str) and best.instance in keys:
            line, column = keys[best.instance]  # a bad key: point at the key itself
        where = "/".join(map(str, path)) or "(top level)"
        problems.append(Problem(file, line, column, f"{where}: {best.message}",
                                rule=_rule_id_at(document, path),
                                hint="see engine/schema/knowledge_base.schema.json"))
    return problems


def _at(document: Any, path: list[Any]) -> Any:
    node = document
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _rule_id_at(document: Any, path: list[Any]) -> str | None:
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        try:
            rule_id = document["rules"][path[1]].get("id")
            return rule_id if isinstance(rule_id, str) else None
        except (KeyError, IndexError, AttributeError, TypeError):
            return None
    return None


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known name, for a "did you mean" hint (a typo, or the start of a long id)."""
    candidates = list(candidates)
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    extended = sorted((c for c in candidates if len(name) >= 4 and name in c), key=len)
    return extended[0] if extended else None


def normalize_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Reader:
    """Collects problems while reading, so one run reports all of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root.parent))
        except ValueError:
            return str(path)

    def problem(self, file: str, line: int, column: int, message: str,
                rule: str | None = None, hint: str | None = None, severity: str = "error") -> None:
        self.problems.append(Problem(file, line, column, message, rule, hint, severity))

    def read(self, path: Path, definition: str) -> Any:
        file = self.rel(path)
        try:
            document = read_yaml(path)
        except OSError as exc:
            self.problem(file, 1, 1, f"cannot read the file: {exc.strerror or exc}")
            return None
        except YamlProblem as exc:
            self.problem(file, exc.line, exc.column, exc.message)
            return None
        found = schema_problems(document, definition, file)
        self.problems.extend(found)
        return None if found else document


def kb_files(root: Path) -> list[Path]:
    """The files that make up a knowledge base (what its checksum covers)."""
    files = [root / "vocabulary.yaml", root / "sources.yaml"]
    files += sorted((root / "rules").glob("*.yaml"))
    return files


def load_knowledge_base(root: Path | str | None = None, *, with_warnings: bool = False
                        ) -> KnowledgeBase | tuple[KnowledgeBase, list[Problem]]:
    """Load and check a knowledge-base folder; raise KnowledgeBaseError on any error."""
    kb, problems = check_knowledge_base(root)
    errors = [p for p in problems if p.severity == "error"]
    if errors or kb is None:
        raise KnowledgeBaseError(errors or problems)
    return (kb, problems) if with_warnings else kb


def check_knowledge_base(root: Path | str | None = None) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Every problem of a knowledge base, errors and warnings, and the model if it has no error."""
    root = Path(root) if root is not None else default_kb_path()
    reader = _Reader(root)
    if not root.is_dir():
        reader.problem(str(root), 1, 1, "not a knowledge-base folder",
                       hint="expected vocabulary.yaml, sources.yaml and rules/*.yaml")
        return None, reader.problems
    vocabulary_doc = reader.read(root / "vocabulary.yaml", "vocabulary_file")
    sources_doc = reader.read(root / "sources.yaml", "sources_file")
    rule_paths = sorted((root / "rules").glob("*.yaml"))
    if not rule_paths:
        reader.problem(reader.rel(root / "rules"), 1, 1, "no rule files (rules/*.yaml)")
    rule_docs = [(path, reader.read(path, "rule_file")) for path in rule_paths]
    if vocabulary_doc is None or sources_doc is None or any(doc is None for _, doc in rule_docs):
        return None, reader.problems

    facts, derived = _vocabulary(vocabulary_doc)
    _check_vocabulary(reader, facts, vocabulary_doc, reader.rel(root / "vocabulary.yaml"))
    document_text, references, background = _sources(reader, root, sources_doc)
    rules = _rules(reader, rule_docs)
    _check_rules(reader, rules, facts, derived, references, normalize_space(document_text),
                 reader.rel(root / "vocabulary.yaml"))
    reader.problems.extend(lint_rules(rules))
    ordered = _order(reader, rules, derived)
    if any(p.severity == "error" for p in reader.problems):
        return None, reader.problems

    digest = hashlib.sha256()
    for path in kb_files(root) + [root / sources_doc["document"]["file"]]:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    kb = KnowledgeBase(
        name=str(sources_doc["name"]), version=str(sources_doc["version"]), sha256=digest.hexdigest(),
        root=root, facts=facts, derived=derived, rules=tuple(ordered), references=references,
        document=document_text, background=normalize_space(background))
    return kb, reader.problems


def _vocabulary(doc: Any) -> tuple[dict[str, FactSpec], dict[str, DerivedSpec]]:
    facts = {}
    for name, spec in doc["facts"].items():
        facts[name] = FactSpec(
            name=name, type=spec["type"], meaning=spec["meaning"], question=spec["question"],
            values=tuple(spec.get("values", ())),
            aliases=dict(spec.get("aliases", {})), unit=spec.get("unit"),
            range=tuple(spec["range"]) if "range" in spec else None,  # type: ignore[arg-type]
            line=doc["facts"].key_positions[name][0])
    derived = {name: DerivedSpec(name, spec["meaning"], doc["derived"].key_positions[name][0])
               for name, spec in doc["derived"].items()}
    return facts, derived


def _check_vocabulary(reader: _Reader, facts: dict[str, FactSpec], doc: Any, file: str) -> None:
    for name, spec in facts.items():
        if spec.range is not None and spec.range[0] > spec.range[1]:
            line, column = position(doc, ["facts", name, "range"])
            reader.problem(file, line, column, f"the range of '{name}' is inverted: "
                           f"{spec.range[0]:g} is above {spec.range[1]:g}", hint="write [lowest, highest]")


def _sources(reader: _Reader, root: Path, doc: Any) -> tuple[str, dict[str, Reference], str]:
    document_path = root / doc["document"]["file"]
    try:
        text = document_path.read_text(encoding="utf-8")
    except OSError as exc:
        line, column = position(doc, ["document", "file"])
        reader.problem(reader.rel(root / "sources.yaml"), line, column,
                       f"cannot read the source document {document_path.name}: {exc.strerror or exc}")
        text = ""
    references = {str(ref): Reference(str(ref), r["label"], r["citation"], r["evidence"], r["confidence"])
                  for ref, r in doc["references"].items()}
    return text, references, doc["document"].get("background", "")


def _rules(reader: _Reader, rule_docs: list[tuple[Path, Any]]) -> list[Rule]:
    rules = []
    for path, doc in rule_docs:
        file = reader.rel(path)
        for index, raw in enumerate(doc["rules"]):
            line, _ = doc["rules"].item_positions[index]
            try:
                when = cond.parse(raw["when"])
            except cond.ConditionSyntaxError as exc:
                reader.problem(file, exc.line, exc.column, str(exc), raw["id"])
                continue
            prov = raw["provenance"]
            conclude = raw.get("conclude")
            excludes = raw.get("excludes")
            rules.append(Rule(
                id=raw["id"], title=raw["title"], when=when, file=file, line=line,
                provenance=Provenance(tuple(Quote(str(q["ref"]), normalize_space(q["quote"]))
                                            for q in prov.get("sources", ())),
                                      normalize_space(prov["local_policy"]) if "local_policy" in prov else None),
                derive=tuple(raw.get("derive", ())),
                conclude=ConclusionSpec(conclude["kind"], normalize_space(conclude["statement"]),
                                        conclude.get("therapy_class"),
                                        bool(conclude.get("outside_scope", False)),
                                        conclude.get("strength")) if conclude else None,
                dose=dict(raw["dose"]) if "dose" in raw else None,
                excludes=Exclusion(tuple(excludes["rules"]), normalize_space(excludes["resolution"]))
                if excludes else None,
                priority=int(raw.get("priority", 0))))
    return rules


def _check_rules(reader: _Reader, rules: list[Rule], facts: dict[str, FactSpec],
                 derived: dict[str, DerivedSpec], references: dict[str, Reference], document: str,
                 vocabulary_file: str) -> None:
    seen: dict[str, Rule] = {}
    known_names = list(facts) + list(derived)
    for rule in rules:
        def problem(message: str, line: int = rule.line, column: int = 1, hint: str | None = None,
                    rule: Rule = rule) -> None:
            reader.problem(rule.file, line, column, message, rule.id, hint)

        if rule.id in seen:
            problem(f"duplicate rule id (first defined at {seen[rule.id].where})",
                    hint="give every rule its own id")
        seen.setdefault(rule.id, rule)
        for test in cond.tests(rule.when):
            _check_test(test, facts, derived, known_names, problem)
        for test in cond.negated_tests(rule.when):
            if test.fact in derived:
                problem(f"negation over the derived fact '{test.fact}' cannot be evaluated soundly "
                        "by the forward-chaining engine", test.line, test.column,
                        hint="negate the input facts it is derived from instead")
        for name in rule.derive:
            if name not in derived:
                problem(f"derives '{name}', which vocabulary.yaml does not declare under 'derived'",
                        hint=_did_you_mean(name, derived) or "declare it under 'derived' in vocabulary.yaml")
        for quote in rule.provenance.sources:
            if quote.ref not in references:
                problem(f"cites reference [{quote.ref}], which sources.yaml does not list",
                        hint=f"known references: {', '.join(sorted(references))}")
            elif quote.quote not in document:
                problem(f"the quote for [{quote.ref}] is not in the source document word for word: "
                        f"\"{quote.quote[:60]}...\"", hint="copy the sentence from source_document.txt")
        if rule.dose is not None and (rule.conclude is None or rule.conclude.kind != "dosing"):
            problem("only a rule concluding kind 'dosing' may carry a 'dose' block")
        if rule.dose is not None and "base_kg" in rule.dose:
            _check_weight_facts(rule, facts, problem)
        if rule.conclude and rule.conclude.therapy_class and rule.conclude.kind != "combination":
            problem("'therapy_class' belongs to conclusions of kind 'combination'")
        if rule.conclude and rule.conclude.outside_scope and rule.conclude.kind != "scope":
            problem("'outside_scope' belongs to conclusions of kind 'scope'")
        if rule.conclude and rule.conclude.strength and rule.conclude.kind != "indication":
            problem("'strength' belongs to conclusions of kind 'indication' (a route to IVIG)")
    for rule in rules:
        for excluded in rule.excludes.rules if rule.excludes else ():
            if excluded not in seen:
                reader.problem(rule.file, rule.line, 1, f"excludes unknown rule '{excluded}'", rule.id,
                               _did_you_mean(excluded, seen))
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


def _check_weight_facts(rule: Rule, facts: dict[str, FactSpec], problem: Any) -> None:
    """The dose arithmetic reads sex, height_cm and weight_kg: they must be there, of the right type,
    and the weight formula must have a base weight for every value of sex."""
    sex = facts.get("sex")
    if sex is None or sex.type != "enum":
        problem("the ideal-body-weight dose block needs an enum fact 'sex' in vocabulary.yaml")
    elif set(sex.values) != set(rule.dose["base_kg"]):  # type: ignore[index]
        problem(f"base_kg gives weights for {', '.join(sorted(rule.dose['base_kg']))}, but 'sex' takes "  # type: ignore[index]
                f"{', '.join(sex.values)}", hint="give one base weight per value of sex")
    for name in ("height_cm", "weight_kg"):
        if name not in facts or facts[name].type != "number":
            problem(f"the ideal-body-weight dose block needs a number fact '{name}' in vocabulary.yaml")


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    match = suggest(name, candidates)
    return f"did you mean '{match}'?" if match else None


def _check_test(test: cond.Test, facts: dict[str, FactSpec], derived: dict[str, DerivedSpec],
                known_names: list[str], problem: Any) -> None:
    def bad(message: str, hint: str | None = None) -> None:
        problem(message, test.line, test.column, hint)

    if test.fact in derived:
        if test.op != "equals" or test.value is not True:
            bad(f"a derived fact is tested only as `{test.fact}: true`")
        return
    spec = facts.get(test.fact)
    if spec is None:
        bad(f"unknown fact '{test.fact}'", _did_you_mean(test.fact, known_names)
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
                _did_you_mean(str(test.value), spec.values) or f"allowed: {', '.join(spec.values)}")
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
                    _did_you_mean(str(value), spec.values) or f"allowed: {', '.join(spec.values)}")


def _order(reader: _Reader, rules: list[Rule], derived: dict[str, DerivedSpec]) -> list[Rule]:
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
            reader.problem(rule.file, rule.line, 1, f"derived facts form a cycle: {cycle}", rule.id,
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
