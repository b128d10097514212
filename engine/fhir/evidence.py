"""From evidence to one value per fact: the most recent wins, a tie that disagrees leaves the fact
unknown, a standing allergy outlives a later 'false', antibodies by their latest result, old values flagged."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..bindings import Bindings
from .records import Evidence, Unmapped
from .values import _day, _shown


class Ledger:
    """The evidence, warnings and unread resources of one input, and the facts they settle."""

    def __init__(self, bindings: Bindings, as_of: dt.date) -> None:
        self.bindings, self.as_of = bindings, as_of
        self.evidence: list[Evidence] = []
        self.unmapped: list[Unmapped] = []
        self.warnings: list[str] = []
        self.conflicting: set[str] = set()  # facts left unknown because resources disagree
        self.asked: set[str] = set()  # facts a resource says exist without giving their value
        self._found: dict[str, list[tuple[str, Evidence]]] = {}  # fact -> (sort key, evidence)
        self._results: dict[str, dict[str, list[tuple[str, bool, Evidence]]]] = {}  # fact -> item -> results

    def _add(self, fact: str, value: Any, ref: str, code: str | None, date: str | None, read: str,
             policy: str | None, list_item: bool = False) -> None:
        evidence = Evidence(fact, value, ref, code, date, read, policy)
        self.evidence.append(evidence)
        self._found.setdefault(fact, []).append(("list" if list_item else (date or ""), evidence))

    def facts(self) -> dict[str, Any]:
        """One value per fact: lists gather positives, the most recent value wins, and a tie that
        disagrees leaves the fact unknown with a warning."""
        facts: dict[str, Any] = {}
        for fact, found in self._found.items():
            if found[0][0] == "list":
                items = sorted({e.value for _, e in found if e.value is not None})
                facts[fact] = items
                continue
            latest = max(key for key, _ in found)
            newest = {repr(e.value): e for key, e in found if key == latest}
            if len(newest) > 1:
                self.warnings.append(f"{fact}: " + ", ".join(f"{e.resource} says {_shown(e.value)}"
                                                              for e in newest.values())
                                     + (f" on {latest}" if latest else "") + "; left unknown")
                self.conflicting.add(fact)
                continue
            chosen = next(iter(newest.values()))
            older = {repr(e.value) for key, e in found if key != latest} - set(newest)
            if older and fact == "diagnosis":
                self.warnings.append("diagnosis: resources name " + ", ".join(sorted(
                    {str(e.value) for _, e in found})) + "; left unknown")
                self.conflicting.add(fact)
                continue
            standing = [e for _, e in found if e.value is True
                        and e.resource.startswith(("Condition/", "AllergyIntolerance/"))]
            if chosen.value is False and standing:  # a past anaphylaxis does not become untrue
                self.warnings.append(f"{fact}: {standing[0].resource} (active) says true, {chosen.resource} "
                                     f"({chosen.date or 'undated'}) says false; the active "
                                     f"{standing[0].resource.split('/')[0]} stands [local policy]")
                chosen = standing[0]
            facts[fact] = chosen.value
            self._mark_superseded(fact, chosen, [e for _, e in found])
        for fact, by_item in self._results.items():
            facts.update(self._result_list(fact, by_item))
        return facts

    def _mark_superseded(self, fact: str, chosen: Evidence, found: list[Evidence]) -> None:
        """Say which value was read: older values are marked; an undated value beside a dated one, and a value
        older than its binding's window, are flagged [local policy]."""
        others = [e for e in found if e is not chosen]
        if not others:
            return
        index = {id(e): i for i, e in enumerate(self.evidence)}
        for other in others:
            if id(other) in index and other.value != chosen.value:
                newer = "is newer" if other.date else "is dated"
                self.evidence[index[id(other)]] = replace(other, read=f"{other.read}; not read: "
                                                          f"{chosen.resource} {newer}")
        undated = [e for e in others if not e.date and e.value != chosen.value]
        if chosen.date and undated:
            self.warnings.append(f"{fact}: {', '.join(e.resource for e in undated)} undated "
                                 f"({', '.join(_shown(e.value) for e in undated)}); the dated {chosen.resource} "
                                 f"({_shown(chosen.value)}, {chosen.date}) is read")

    def stale(self, facts: Mapping[str, Any]) -> None:
        """A value read older than its binding's `stale_after_days` is flagged [local policy]."""
        for binding in self.bindings.bindings:
            if binding.stale_after_days is None or binding.fact not in facts:
                continue
            read = [e for e in self.evidence if e.fact == binding.fact and e.value == facts[binding.fact]
                    and "; not read:" not in e.read]
            day = _day(read[-1].date[:10]) if read and read[-1].date else None
            if day is not None and (self.as_of - day).days > binding.stale_after_days:
                self.warnings.append(f"{binding.fact}: {read[-1].resource} is dated {day}, "
                                     f"{(self.as_of - day).days} days before {self.as_of} (more than "
                                     f"{binding.stale_after_days}): measure it again before the dose [local policy]")
            elif day is None and read:
                self.warnings.append(f"{binding.fact}: {read[-1].resource} is undated: check that it is recent "
                                     "before the dose [local policy]")

    def _result_list(self, fact: str, items: Mapping[str, list[tuple[str, bool, Evidence]]]) -> dict[str, Any]:
        """Each antibody by its latest result; the list is empty only when every bound one is negative."""
        positive: list[str] = []
        negative: list[str] = []
        for item, results in items.items():
            latest = max(date for date, _, _ in results)
            answers = {found for date, found, _ in results if date == latest}
            if len(answers) > 1:
                self.warnings.append(f"{fact}: {item} is both positive and negative on {latest or 'an undated day'}; "
                                     f"{item} left unknown")
                self.conflicting.add(fact)
                continue
            (positive if answers.pop() else negative).append(item)
        bound = {str(v) for b in self.bindings.bindings if b.fact == fact for v in b.values.values()}
        untested = sorted(bound - set(positive) - set(negative))
        if positive:
            return {fact: sorted(positive)}
        if not untested:
            return {fact: []}
        self.warnings.append(f"{fact}: {', '.join(sorted(negative))} negative, {', '.join(untested)} not tested: "
                             "left unknown (an empty list means all tested, none found)")
        return {}
