"""FHIR bindings: which codes stand for which facts, read from knowledge_base/fhir/bindings.yaml.

The codes are data a knowledge engineer edits and `kb validate` checks (form by the
published schema, meaning against the vocabulary), so no code lives in Python.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import KnowledgeBaseError, Problem, shown
from .model import KnowledgeBase
from .schema_check import schema_problems
from .yamlio import YamlProblem, position, read_yaml

BINDINGS_FILE = Path("fhir") / "bindings.yaml"
"""Where a knowledge base keeps its bindings, relative to its folder."""

SOURCES = ("condition", "condition_severity", "quantity", "threshold", "result", "assessment", "medication",
           "order", "allergy", "allergy_reaction", "condition_unspecified")
"""Where a binding reads its fact from (the schema's enum says the same; a test holds them equal)."""


@dataclass(frozen=True)
class Code:
    """One code bound to a fact, with how far it was verified and where it was found."""

    system: str  # the URI
    short: str  # "LOINC 29463-7", as written in bindings.yaml and shown in provenance
    code: str
    display: str
    verified: str  # authoritative | secondary | unverified | local
    source: str


@dataclass(frozen=True)
class Binding:
    """How one kind of resource becomes one fact: `value` per code (True for a yes/no fact)."""

    name: str
    fact: str
    source: str
    codes: Mapping[tuple[str, str], Code]  # (system, code) -> Code
    values: Mapping[tuple[str, str], object]  # (system, code) -> the fact's value
    units: Mapping[str, float]
    true_below: float | None
    empty_list: Mapping[tuple[str, str], Code]
    local_policy: str | None
    unit: str | None = None  # the fact's own unit, or a threshold's: "154.32 [lb_av] = 70 kg", "0.07 g/L = 7 mg/dL"
    text: tuple[str, ...] = ()  # an allergy: words naming the substance in text only (shown, never read)
    stale_after_days: int | None = None  # a quantity older than this is flagged [local policy]
    confirm_fact: str | None = None  # an allergy that may be the hard stop sets this, to be confirmed


@dataclass(frozen=True)
class Bindings:
    """Every binding of a knowledge base, with the checksum its advice cites."""

    file: str
    sha256: str
    systems: Mapping[str, str]
    bindings: tuple[Binding, ...]
    patient_policies: Mapping[str, str]
    positive: frozenset[tuple[str, str]] = frozenset()  # result codes that say positive, and negative
    negative: frozenset[tuple[str, str]] = frozenset()
    sex_extensions: tuple[tuple[str, frozenset[str]], ...] = ()  # (url, its code systems), first wins
    sex_codes: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (system, code) -> female | male

    def of(self, *sources: str) -> tuple[Binding, ...]:
        return tuple(b for b in self.bindings if b.source in sources)

    def code_display(self, system: str, code: str) -> str:
        """"LOINC 29463-7" for a bound system, else the URI and the code."""
        short = {uri: name for name, uri in self.systems.items()}.get(system)
        return f"{short} {code}" if short else f"{system}|{code}"


def bindings_path(kb: KnowledgeBase) -> Path:
    return kb.root / BINDINGS_FILE


def check_bindings(kb: KnowledgeBase, unverified: bool = False) -> tuple[Bindings | None, list[Problem]]:
    """The bindings and every problem with them: form first, then each fact, value and code
    (with `unverified`, a warning for each code not verified against an authoritative source)."""
    path = bindings_path(kb)
    file = shown(path)
    if not path.exists():
        return None, [Problem(file, 1, 1, "no FHIR bindings file", severity="warning",
                              hint="FHIR input is refused without it")]
    try:
        document = read_yaml(path)
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem(file, 1, 1, f"cannot read the file: {exc.strerror or exc}")]
    except YamlProblem as exc:
        return None, [Problem(file, exc.line, exc.column, exc.message)]
    problems = schema_problems(document, "bindings", file)
    if problems:
        return None, problems
    systems = {str(k): str(v) for k, v in document["systems"].items()}
    seen: dict[tuple[str, str, str], str] = {}  # a code may name several facts, one value each

    def code_of(entry: Mapping[str, str], where: list[object]) -> Code | None:
        name, _, code = str(entry["code"]).partition(" ")
        if name not in systems:
            line, column = position(document, where + ["code"])
            problems.append(Problem(file, line, column, f"code system '{name}' is not one of `systems`",
                                    hint=f"known: {', '.join(systems)}"))
            return None
        if unverified and entry["verified"] != "authoritative":
            line, column = position(document, where)
            todo = (f"a local placeholder ({entry['source']}): bind the site's own code before clinical use"
                    if entry["verified"] == "local" else
                    f"{entry['verified']}, found only in: {entry['source']}; check it against a terminology server "
                    "before clinical use")
            problems.append(Problem(file, line, column, f"{entry['code']} ({entry['display']}) is {todo}",
                                    severity="warning"))
        return Code(systems[name], str(entry["code"]), code, str(entry["display"]), str(entry["verified"]),
                    str(entry["source"]))

    bindings = []
    for name, spec in document["facts"].items():
        fact = str(spec.get("fact", name))
        where: list[object] = ["facts", name]
        fact_spec = kb.facts.get(fact)
        if fact_spec is None and spec["from"] not in ("order", "allergy_reaction"):
            line, column = position(document, where)
            problems.append(Problem(file, line, column, f"'{fact}' is not a fact of the vocabulary"))
            continue
        codes: dict[tuple[str, str], Code] = {}
        values: dict[tuple[str, str], object] = {}
        groups = [(None, spec["codes"])] if "codes" in spec else list(spec["values"].items())
        for value, entries in groups:
            if value is not None and fact_spec is not None and value not in fact_spec.values:
                line, column = position(document, where + ["values", value])
                problems.append(Problem(file, line, column, f"'{value}' is not a value of '{fact}'",
                                        hint=f"allowed: {', '.join(fact_spec.values)}"))
            if value is None and fact_spec is not None and fact_spec.type not in ("bool", "number") \
                    and spec["from"] not in ("assessment", "condition_unspecified"):
                line, column = position(document, where)
                problems.append(Problem(file, line, column, f"'{fact}' is a {fact_spec.type}: bind each value "
                                        "under `values`, not one list of `codes`"))
            for index, entry in enumerate(entries):
                code = code_of(entry, where + (["codes", index] if value is None else ["values", value, index]))
                if code is None:
                    continue
                key = (code.system, code.code, fact)
                if key in seen and seen[key] != f"{fact}={value}":
                    line, column = position(document, where + (["codes", index] if value is None
                                                               else ["values", value, index]))
                    problems.append(Problem(file, line, column, f"{code.short} is bound twice: to {seen[key]} "
                                            f"and to {fact}={value}"))
                seen[key] = f"{fact}={value}"
                codes[(code.system, code.code)] = code
                values[(code.system, code.code)] = True if value is None else value
        needs_units = spec["from"] in ("quantity", "threshold")
        if needs_units != ("units" in spec):
            line, column = position(document, where)
            problems.append(Problem(file, line, column, f"a binding from {spec['from']} "
                                    f"{'needs' if needs_units else 'takes no'} `units`"))
        if (spec["from"] == "threshold") != ("true_below" in spec):
            line, column = position(document, where)
            problems.append(Problem(file, line, column, "`true_below` goes with `from: threshold`, and only there"))
        base_units = [str(unit) for unit, factor in spec.get("units", {}).items() if factor == 1]
        if spec["from"] == "threshold" and "units" in spec and len(base_units) != 1:
            line, column = position(document, where + ["units"])
            problems.append(Problem(file, line, column, "a threshold needs exactly one unit of factor 1: the unit "
                                    "`true_below` is in"))
        empty = {}
        for index, entry in enumerate(spec.get("empty_list", [])):
            code = code_of(entry, where + ["empty_list", index])
            if code is not None:
                empty[(code.system, code.code)] = code
        bindings.append(Binding(name, fact, str(spec["from"]), codes, values,
                                {str(k): float(v) for k, v in spec.get("units", {}).items()},
                                None if spec.get("true_below") is None else float(spec["true_below"]),
                                empty, spec.get("local_policy"),
                                fact_spec.unit if fact_spec and fact_spec.unit else next(iter(base_units), None),
                                tuple(str(word) for word in spec.get("text", ())),
                                spec.get("stale_after_days"), spec.get("confirm_fact")))
        confirm = spec.get("confirm_fact")
        if confirm is not None and (kb.facts.get(confirm) is None or kb.facts[confirm].type != "bool"):
            line, column = position(document, where + ["confirm_fact"])
            problems.append(Problem(file, line, column, f"confirm_fact '{confirm}' is not a yes/no fact of the "
                                    "vocabulary"))
    policies = {str(k): str(v["local_policy"]) for k, v in document["patient"].items()}
    answers: dict[str, set[tuple[str, str]]] = {}
    for answer in ("positive", "negative"):
        for index, entry in enumerate(document.get("results", {}).get(answer, [])):
            code = code_of(entry, ["results", answer, index])
            if code is not None:
                answers.setdefault(answer, set()).add((code.system, code.code))
    sex = document["patient"]["sex"]
    sex_codes = {}
    for value, entries in sex.get("values", {}).items():
        for index, entry in enumerate(entries):
            code = code_of(entry, ["patient", "sex", "values", value, index])
            if code is not None:
                sex_codes[(code.system, code.code)] = str(value)
    if any(p.severity == "error" for p in problems):
        return None, problems
    return Bindings(BINDINGS_FILE.as_posix(), hashlib.sha256(data).hexdigest(), systems, tuple(bindings), policies,
                    frozenset(answers.get("positive", ())), frozenset(answers.get("negative", ())),
                    tuple((str(e["url"]), frozenset(systems.get(str(n), str(n)) for n in e["systems"]))
                          for e in sex.get("extensions", ())), sex_codes), problems


_LOADED: dict[tuple[Path, str, float], Bindings] = {}


def load_bindings(kb: KnowledgeBase) -> Bindings:
    """The checked bindings of this knowledge base; broken bindings never map a resource (exit 3)."""
    path = bindings_path(kb)
    key = (path, kb.sha256, path.stat().st_mtime if path.exists() else 0.0)
    if key not in _LOADED:
        bindings, problems = check_bindings(kb)
        if bindings is None:
            raise KnowledgeBaseError([p for p in problems if p.severity == "error"] or problems)
        _LOADED[key] = bindings
    return _LOADED[key]
