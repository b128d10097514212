"""The durable_rules backend: the only module that imports durable.

Each input fact is one fact in working memory, and so is each unknown one
(`known: false`): "unknown" is then a positive pattern, and the only negation
left is inside a pattern on an input fact, which durable_rules evaluates
soundly. A rule's condition becomes one durable rule per conjunct of its
normal form; the rule fires once, however many conjuncts match.

durable_rules has no trace API, so every action is wrapped to record the rule,
the facts it matched and what it asserted (see ../shared/DESIGN.md).

durable_rules' own `Host` starts two timer threads that call into its C engine
every 0.2 s (`Host._run`: `dispatch_ruleset`, `dispatch_timers`). The C engine
is not thread-safe, so those threads race the thread that asserts facts:
random "error code: 307", segmentation faults, and once a patient with no
conclusions and no error. myoivig uses no durable timers, queues or
asynchronous actions, so `_SynchronousHost` starts no thread at all: every
action runs inside `assert_facts`, in the caller's thread.
"""
from __future__ import annotations

import copy
import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import durable_rules_engine
from durable import engine as durable

from . import conditions as cond
from .errors import EngineError
from .model import Firing, KnowledgeBase, MatchedFact, Rule

_SINK = "$sink"  # matches every fact, so none raises MessageNotHandledException

# durable logs every exception it hands back (an interrupt landing in its own code included) through
# logging's last resort, a traceback on stderr; the caller reports each one once, in its own words.
logging.getLogger("durable").addHandler(logging.NullHandler())
logging.getLogger("durable").propagate = False

# durable's C engine keeps global tables (ruleset and state handles): one call into it at a
# time per process, whichever engine and thread it comes from.
_DURABLE = threading.Lock()


def _flag(name: str, value: str) -> str:
    return f"{name}:{value}"


def working_memory(kb: KnowledgeBase, facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The facts to assert for one patient: every vocabulary fact, known or not."""
    memory: list[dict[str, Any]] = []
    for name, spec in kb.facts.items():
        known = name in facts
        fact: dict[str, Any] = {"id": f"in:{name}", "name": name, "known": known}
        if known and spec.type != "list":
            fact["value"] = facts[name]
        memory.append(fact)
        if spec.type == "list":
            for value in spec.values:
                flag: dict[str, Any] = {"id": f"in:{name}:{value}", "name": _flag(name, value),
                                        "known": known, "list": name}
                if known:
                    flag["value"] = value in facts[name]
                memory.append(flag)
    return memory


def _pattern(literals: list[cond.Literal]) -> dict[str, Any]:
    """One durable pattern for all literals on the same working-memory fact."""
    terms: list[dict[str, Any]] = []
    name = ""
    for literal in literals:
        test = literal.test
        if test.op == "contains":
            name = _flag(test.fact, test.value)
            terms += [{"known": True}, {"value": not literal.negated}]
            continue
        name = test.fact
        if test.op == "known":
            terms.append({"known": bool(test.value)})
            continue
        terms.append({"known": True})
        if test.op == "equals":
            terms.append({"$neq": {"value": test.value}} if literal.negated else {"value": test.value})
        elif test.op == "in":
            if literal.negated:
                terms += [{"$neq": {"value": v}} for v in test.value]
            else:
                terms.append({"$or": [{"value": v} for v in test.value]})
        else:
            terms.append({f"${test.op}": {"value": test.value}})
    unique = []
    for term in terms:
        if term not in unique:
            unique.append(term)
    return {"$and": [{"name": name}] + unique}


def compile_rules(kb: KnowledgeBase, action: Callable[[Rule], Callable[[Any], None]]) -> dict[str, Any]:
    """The ruleset as plain data (durable's JSON form), one entry per conjunct."""
    ruleset: dict[str, Any] = {}
    for rule in kb.rules:
        for index, conjunct in enumerate(cond.to_dnf(rule.when)):
            groups: dict[str, list[cond.Literal]] = {}
            for literal in conjunct:
                key = _flag(literal.test.fact, literal.test.value) if literal.test.op == "contains" \
                    else literal.test.fact
                groups.setdefault(key, []).append(literal)
            patterns = [{f"f_{i}": _pattern(group)} for i, group in enumerate(groups.values())]
            entry: dict[str, Any] = {"all": patterns, "run": action(rule)}
            if rule.priority:
                entry["pri"] = rule.priority
            ruleset[f"{rule.id}#{index}"] = entry
    ruleset[_SINK] = {"all": [{"m": {"$ex": {"name": 1}}}], "pri": 1_000_000, "run": lambda c: None}
    return ruleset


class _SynchronousHost(durable.Host):  # type: ignore[misc]
    """A durable Host that never starts its background dispatch threads.

    `Host.__init__` calls `self._run()`, which starts `threading.Timer` loops that
    poll every ruleset for timers and queued actions. Actions of a synchronous
    `assert_facts` are run by `do_actions` before it returns, so nothing is lost.
    """

    def _run(self) -> None:
        pass


@dataclass
class _Run:
    sid: str
    input_facts: Mapping[str, Any]
    firings: list[Firing] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    derived: set[str] = field(default_factory=set)
    error: BaseException | None = None


class DurableEngine:
    """A compiled knowledge base on its own durable_rules host.

    One host per knowledge base (a ruleset name cannot be registered twice);
    one session per patient, deleted afterwards (at most 1,024 live sessions).
    No thread of durable's own touches it (see `_SynchronousHost`); an engine
    must still be used by one thread at a time, and `close` frees its C ruleset.
    """

    _counter = itertools.count(1)

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.ruleset = f"myoivig_{kb.sha256[:12]}_{next(self._counter)}"
        self._host = _SynchronousHost()
        self._closed = False
        self._runs: dict[str, _Run] = {}
        self._sessions = itertools.count(1)
        rules = compile_rules(kb, self._action)
        with _DURABLE:
            self._host.set_rulesets(copy.deepcopy({self.ruleset: rules}))  # set_rulesets strips 'run' keys

    def _action(self, rule: Rule) -> Callable[[Any], None]:
        def run(c: Any) -> None:
            state = self._runs.get(str(c.s["sid"]))
            if state is None:
                return
            try:
                self._fire(state, rule, c)
            except BaseException as exc:  # durable swallows action errors: keep it for the caller
                state.error = state.error or exc
        return run

    def _fire(self, state: _Run, rule: Rule, c: Any) -> None:
        if rule.id in state.fired:
            return  # another conjunct of the same rule already fired
        state.fired.add(rule.id)
        matches = c._m if isinstance(c._m, dict) else {}
        if "id" in matches:
            matches = {"f_0": matches}
        matched = []
        for fact in matches.values():
            name = fact.get("list") or fact["name"]
            origin = "derived" if fact.get("derived") else "input"
            value = state.input_facts.get(name) if origin == "input" else True
            item = MatchedFact(name, value if fact.get("known") else None, origin)
            if item not in matched:
                matched.append(item)
        asserted = []
        for name in rule.derive:
            if name not in state.derived:
                state.derived.add(name)
                asserted.append(name)
        state.firings.append(Firing(len(state.firings) + 1, rule.id, tuple(matched), tuple(asserted)))
        for name in asserted:
            c.assert_fact({"id": f"d:{name}", "name": name, "known": True, "value": True, "derived": True})

    def close(self) -> None:
        """Free the C engine's ruleset (about 0.7 MB; durable's Python API never frees it)."""
        with _DURABLE:
            if not self._closed:
                self._closed = True
                durable_rules_engine.delete_ruleset(self._host.get_ruleset(self.ruleset)._handle)

    def run(self, facts: Mapping[str, Any]) -> list[Firing]:
        """Forward-chain one patient's facts to quiescence; return the firings in order."""
        with _DURABLE:
            return self._run_locked(facts)

    def _run_locked(self, facts: Mapping[str, Any]) -> list[Firing]:
        if self._closed:
            raise EngineError("this engine was closed; consult through engine_for(kb)")
        sid = f"p{next(self._sessions)}"
        state = _Run(sid, facts)
        self._runs[sid] = state
        memory = [dict(fact, sid=sid) for fact in working_memory(self.kb, facts)]
        try:
            self._host.assert_facts(self.ruleset, memory)
        except Exception as exc:
            raise EngineError(f"durable_rules failed on this patient: {exc}") from exc
        finally:
            self._runs.pop(sid, None)
            try:
                self._host.delete_state(self.ruleset, sid)
            except Exception:
                pass
        if state.error is not None:
            if not isinstance(state.error, Exception):
                # an interrupt (Ctrl-C, or SIGTERM raised as KeyboardInterrupt) that landed inside a rule
                # action: re-raised as it came, so that `batch` stops with 130 and a resumable output,
                # never an 'engine' error record and a run to the end
                raise state.error
            raise EngineError(f"a rule action failed: {state.error!r}") from state.error
        return state.firings


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
