"""Load a knowledge-base folder into the typed model, or fail with file and line.

Loading is checking: the form against the published JSON Schema (schema_check.py), then the
meaning (meaning.py: fact names, values, quotes, derivations, order) and the lint of
normal forms (lint.py). This module reads the files and builds the model; a
knowledge base with any error never reaches the engine.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, overload

from . import conditions as cond
from . import kbcache
from .errors import KnowledgeBaseError, Problem, shown
from .model import ConclusionSpec, DerivedSpec, Exclusion, FactSpec, KnowledgeBase, Provenance, Quote, Reference, Rule
from .yamlio import YamlProblem, position, read_yaml

DEFAULT_KB = Path(__file__).resolve().parent.parent / "knowledge_base"


KB_VARIABLE = "MYOIVIG_KB_DIR"


def default_kb_path() -> Path:
    """The knowledge base used without --kb: the folder MYOIVIG_KB_DIR names (a site's own), else the
    shipped one (installed as package data beside the engine)."""
    return Path(os.environ[KB_VARIABLE]) if os.environ.get(KB_VARIABLE) else DEFAULT_KB


def normalize_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _Reader:
    """Collects problems while reading, so one run reports all of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def rel(self, path: Path) -> str:
        return shown(path)

    def shown(self, kb_file: str) -> str:
        """A rule's knowledge-base-relative file as a terminal opens it."""
        return shown(self.root / kb_file)

    def problem(self, file: str, line: int, column: int, message: str,
                rule: str | None = None, hint: str | None = None, severity: str = "error") -> None:
        self.problems.append(Problem(file, line, column, message, rule, hint, severity))

    def read(self, path: Path, definition: str, parts: tuple[str, ...] = ()) -> tuple[Any, set[Any]]:
        """The document and the items of `parts` with schema problems (left out, so that the rest is
        checked for meaning in the same run); None when the file itself is broken."""
        file = self.rel(path)
        try:
            document = read_yaml(path)
        except OSError as exc:
            self.problem(file, 1, 1, f"cannot read the file: {exc.strerror or exc}")
            return None, set()
        except YamlProblem as exc:
            self.problem(file, exc.line, exc.column, exc.message)
            return None, set()
        from .schema_check import broken_items, schema_findings

        findings = schema_findings(document, definition, file)
        self.problems.extend(problem for problem, _path in findings)
        broken = set() if not findings else next((found for key in parts
                                                   if (found := broken_items(findings, key)) is not None), None)
        if broken is None:
            return None, set()
        return document, broken


def kb_files(root: Path) -> list[Path]:
    """The files that make up a knowledge base (what its checksum covers)."""
    files = [root / "vocabulary.yaml", root / "sources.yaml"]
    files += sorted((root / "rules").glob("*.yaml"))
    return files


@overload
def load_knowledge_base(root: Path | str | None = None, *, with_warnings: Literal[False] = False) -> KnowledgeBase: ...
@overload
def load_knowledge_base(root: Path | str | None = None, *,
                        with_warnings: Literal[True]) -> tuple[KnowledgeBase, list[Problem]]: ...
def load_knowledge_base(root: Path | str | None = None, *, with_warnings: bool = False
                        ) -> KnowledgeBase | tuple[KnowledgeBase, list[Problem]]:
    """Load and check a knowledge-base folder; raise KnowledgeBaseError on any error.

    A knowledge base this engine already checked, byte for byte, comes from the cache
    (kbcache.py); asking for the warnings always checks it again.
    """
    root = Path(root) if root is not None else default_kb_path()
    cached = None if with_warnings else kbcache.entry(root)
    if cached is not None and (kb := kbcache.load(cached)) is not None:
        return kb
    kb, problems = check_knowledge_base(root)
    errors = [p for p in problems if p.severity == "error"]
    if errors or kb is None:
        raise KnowledgeBaseError(errors or problems)
    if cached is not None:
        kbcache.store(cached, kb)
    return (kb, problems) if with_warnings else kb


def check_knowledge_base(root: Path | str | None = None) -> tuple[KnowledgeBase | None, list[Problem]]:
    """Every problem of a knowledge base, errors and warnings, and the model if it has no error."""
    from . import meaning  # checking, not reading a checked knowledge base from the cache, needs these
    from .lint import lint_rules

    root = Path(root) if root is not None else default_kb_path()
    reader = _Reader(root)
    if not root.is_dir():
        reader.problem(str(root), 1, 1, "not a knowledge-base folder",
                       hint="expected vocabulary.yaml, sources.yaml and rules/*.yaml")
        return None, reader.problems
    vocabulary_doc, broken_facts = reader.read(root / "vocabulary.yaml", "vocabulary_file", ("facts", "derived"))
    sources_doc, _ = reader.read(root / "sources.yaml", "sources_file")
    rule_paths = sorted((root / "rules").glob("*.yaml"))
    if not rule_paths:
        reader.problem(reader.rel(root / "rules"), 1, 1, "no rule files (rules/*.yaml)")
    rule_docs = [(path, *reader.read(path, "rule_file", ("rules",))) for path in rule_paths]
    if vocabulary_doc is None or sources_doc is None or any(doc is None for _, doc, _ in rule_docs):
        return None, _in_order(reader.problems)

    facts, derived = _vocabulary(vocabulary_doc, broken_facts)
    meaning.check_vocabulary(reader, facts, vocabulary_doc, reader.rel(root / "vocabulary.yaml"))
    document_text, references, background = _sources(reader, root, sources_doc)
    rules = _rules(reader, [(path, doc, broken) for path, doc, broken in rule_docs])
    left_out = _names_left_out(broken_facts, rule_docs)
    form_problems = len(reader.problems)
    meaning.check_rules(reader, rules, facts, derived, references, normalize_space(document_text),
                 reader.rel(root / "vocabulary.yaml"))
    reader.problems.extend(replace(p, file=reader.shown(p.file)) for p in lint_rules(rules, facts))
    ordered = meaning.order(reader, rules, derived)
    if left_out:  # what a rule or fact left out for its form would have answered is not a second problem
        reader.problems[form_problems:] = [p for p in reader.problems[form_problems:]
                                           if not any(f"'{name}'" in p.message for name in left_out)]
    if any(p.severity == "error" for p in reader.problems):
        return None, _in_order(reader.problems)

    digest = hashlib.sha256()
    for path in kb_files(root) + [root / sources_doc["document"]["file"]]:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    kb = KnowledgeBase(
        name=str(sources_doc["name"]), version=str(sources_doc["version"]), sha256=digest.hexdigest(),
        root=root, facts=facts, derived=derived, rules=tuple(ordered), references=references,
        document=document_text, background=normalize_space(background))
    return kb, _in_order(reader.problems)


def _in_order(problems: list[Problem]) -> list[Problem]:
    """Problems of form and of meaning together, as an editor walks the files: by file, line, column."""
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def _names_left_out(broken_facts: set[Any], rule_docs: list[tuple[Path, Any, set[Any]]]) -> set[str]:
    """The names (facts, rule ids, derived facts) of the items left out for their form."""
    names = {str(name) for name in broken_facts}
    for _path, doc, broken in rule_docs:
        for index in broken:
            raw = doc["rules"][index] if isinstance(index, int) and index < len(doc["rules"]) else None
            if isinstance(raw, dict):
                names |= {str(raw["id"])} if isinstance(raw.get("id"), str) else set()
                names |= {str(d) for d in raw.get("derive") or () if isinstance(d, str)} \
                    if isinstance(raw.get("derive"), list) else set()
    return names


def _vocabulary(doc: Any, broken: Collection[Any] = ()) -> tuple[dict[str, FactSpec], dict[str, DerivedSpec]]:
    facts = {}
    for name, spec in doc["facts"].items():
        if name in broken:
            continue
        facts[name] = FactSpec(
            name=name, type=spec["type"], meaning=spec["meaning"], question=spec["question"],
            values=tuple(spec.get("values", ())),
            aliases=dict(spec.get("aliases", {})), unit=spec.get("unit"),
            synonyms=tuple(spec.get("synonyms", ())), units=dict(spec.get("units", {})),
            range=tuple(spec["range"]) if "range" in spec else None,
            line=doc["facts"].key_positions[name][0], asked=bool(spec.get("asked", True)),
            ask_when=cond.parse(spec["ask_when"]) if "ask_when" in spec else None)
    derived = {name: DerivedSpec(name, spec["meaning"], doc["derived"].key_positions[name][0])
               for name, spec in doc["derived"].items() if name not in broken}
    return facts, derived


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


def _rules(reader: _Reader, rule_docs: list[tuple[Path, Any, set[Any]]]) -> list[Rule]:
    rules = []
    for path, doc, broken in rule_docs:
        file = reader.rel(path)
        source = path.relative_to(reader.root).as_posix()  # the same wherever a process runs
        for index, raw in enumerate(doc["rules"]):
            if index in broken:
                continue
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
                id=raw["id"], title=raw["title"], when=when, file=source, line=line,
                provenance=Provenance(tuple(Quote(str(q["ref"]), normalize_space(q["quote"]))
                                            for q in prov.get("sources", ())),
                                      normalize_space(prov["local_policy"]) if "local_policy" in prov else None),
                derive=tuple(raw.get("derive", ())),
                conclude=ConclusionSpec(conclude["kind"], normalize_space(conclude["statement"]),
                                        conclude.get("therapy_class"),
                                        bool(conclude.get("outside_scope", False)),
                                        conclude.get("strength"),
                                        bool(conclude.get("withholds_dose", False))) if conclude else None,
                dose=dict(raw["dose"]) if "dose" in raw else None,
                excludes=Exclusion(tuple(excludes["rules"]), normalize_space(excludes["resolution"]))
                if excludes else None,
                priority=int(raw.get("priority", 0))))
    return rules


