"""`myoivig kb`: the knowledge engineer's workbench - validate, test, coverage, diff."""
from __future__ import annotations

import difflib
import textwrap
from pathlib import Path

import click

from ..engine import KnowledgeBaseError, check_knowledge_base, normalize
from ..engine.bindings import check_bindings
from ..engine.cases import case_paths, check_cases, load_case, run_case, updated_case
from ..engine.coverage import coverage as measure_coverage
from ..engine.diff import diff as diff_kbs
from ..engine.diff import load_side, temporary_workdir
from ..engine.errors import FINDINGS, InputError, shown
from ..engine.population import generate, threshold_sweep
from ..engine.serialize import plain
from .options import emit_json, format_option, kb_option, load_kb
from .output import write_outputs


@click.group("kb", short_help="Validate, test, cover and diff the knowledge base.")
def kb() -> None:
    """Check and test the knowledge base (exit 3: invalid knowledge base; exit 1: a check failed)."""


@kb.command("validate")
@format_option()
@click.option("--codes", "codes", is_flag=True,
              help="Also warn of every FHIR binding code not verified against an authoritative source.")
@kb_option
def validate(fmt: str, codes: bool, kb_dir: Path | None) -> None:
    """Check the rule files, cases and FHIR bindings: schema, then meaning. Each problem with file:line:column."""
    model, problems = check_knowledge_base(kb_dir)
    if model is not None:
        problems += check_cases(model)
        problems += check_bindings(model, unverified=codes)[1]
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    if fmt == "json":
        emit_json({"valid": not errors, "problems": [plain(p) for p in problems],
                   "knowledge_base": None if model is None else {"name": model.name, "version": model.version,
                                                                 "sha256": model.sha256, "rules": len(model.rules)}})
        if errors:
            raise SystemExit(KnowledgeBaseError.exit_code)
        return
    if errors:
        raise KnowledgeBaseError(errors + warnings)
    for problem in warnings:
        click.echo(str(problem))
    assert model is not None
    click.echo(f"{model.name} {model.version}: {len(model.rules)} rules, {len(model.facts)} facts, "
               f"{len(model.derived)} derived facts - valid, {len(warnings)} warning(s)")


@kb.command("test")
@click.argument("cases", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--update", is_flag=True,
              help="Rewrite the expectations of the cases named (all without CASES) from today's advice; "
                   "print what changed.")
@format_option()
@kb_option
def test(cases: tuple[Path, ...], update: bool, fmt: str, kb_dir: Path | None) -> None:
    """Run case files (default: the knowledge base's cases/) and show each failure as expected vs actual."""
    from ..engine import consult
    from .render import trace_lines
    model = load_kb(kb_dir)
    paths = list(cases) or case_paths(model)
    if update:
        rewritten = [(path, updated_case(model, path)) for path in paths]
        changed = [(path, text) for path, text in rewritten if text != path.read_text(encoding="utf-8")]
        for path, text in changed:
            click.echo("".join(difflib.unified_diff(path.read_text(encoding="utf-8").splitlines(keepends=True),
                                                    text.splitlines(keepends=True), str(path), str(path))), nl=False)
        write_outputs([(path, text.encode("utf-8")) for path, text in changed])
        click.echo(f"{len(changed)} of {len(paths)} case files updated")
        return
    failed = 0
    if fmt == "json":
        results = [run_case(model, load_case(path)) for path in paths]
        emit_json({"cases": [{"case": shown(path), "passed": r.passed,
                              "failures": [{"what": w, "expected": e, "actual": a} for w, e, a in r.failures]}
                             for path, r in zip(paths, results, strict=True)],
                   "passed": sum(r.passed for r in results), "failed": sum(not r.passed for r in results)})
        if any(not r.passed for r in results):
            raise SystemExit(FINDINGS)
        return
    for path in paths:
        result = run_case(model, load_case(path))
        if result.passed:
            click.echo(f"PASS {shown(path)}")
            continue
        failed += 1
        click.echo(f"FAIL {shown(path)}")
        for what, expected, actual in result.failures:
            click.echo(f"  {what}:\n    expected: {expected}\n    actual:   {actual}")
        click.echo("  trace:")
        consultation = consult(model, normalize(model, result.case.patient))
        for line in trace_lines(model, consultation):
            click.echo("  " + line)
    click.echo(f"{len(paths) - failed} passed, {failed} failed")
    if failed:
        raise SystemExit(FINDINGS)


@kb.command("twins")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if a twin is missing or out of date (for CI).")
@kb_option
def twins(check: bool, kb_dir: Path | None) -> None:
    """Write each case's FHIR twin (cases/fhir/NAME.json) from its YAML and the bindings, and print what
    changed. Each twin is read back and must give its case's facts; hand-made FHIR variations live in
    cases/fhir/variations/ and are never touched."""
    import json

    from ..engine.bindings import load_bindings
    from ..engine.twins import TwinError, make_twin
    model = load_kb(kb_dir)
    bindings = load_bindings(model)
    folder = model.root / "cases" / "fhir"
    changed, failed = [], []
    for path in case_paths(model):
        target = folder / f"{path.stem}.json"
        try:
            text = json.dumps(make_twin(model, bindings, path.stem, load_case(path).patient), indent=2) + "\n"
        except TwinError as exc:
            failed.append(f"{shown(path)}: {exc}")
            continue
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append((target, text))
    stale = [p for p in sorted(folder.glob("*.json")) if not (model.root / "cases" / f"{p.stem}.yaml").exists()]
    for line in failed:
        click.echo(f"CANNOT {line}", err=True)
    for target, _ in changed:
        click.echo(f"{'would write' if check else 'wrote'} {shown(target)}")
    for path in stale:
        click.echo(f"{'would remove' if check else 'removed'} {shown(path)} (no case of that name)")
    if not check:
        write_outputs([(target, text.encode("utf-8")) for target, text in changed])
        for path in stale:
            path.unlink()
    click.echo(f"{len(changed) + len(stale)} of {len(case_paths(model))} twins "
               f"{'out of date' if check else 'changed'}" + (f"; {len(failed)} cannot be made" if failed else ""))
    if failed:
        raise SystemExit(InputError.exit_code)
    if check and (changed or stale):
        raise SystemExit(FINDINGS)


@kb.command("coverage")
@click.option("--fail-under", type=click.FloatRange(0, 100), default=None, metavar="PERCENT",
              help="Exit 1 when fewer rules than this are both fired and blocked by the cases.")
@format_option()
@kb_option
def coverage(fail_under: float | None, fmt: str, kb_dir: Path | None) -> None:
    """Which rules each case fires; rules never fired or never blocked; tests never seen both ways."""
    model = load_kb(kb_dir)
    patients = [(path.stem, normalize(model, load_case(path).patient)) for path in case_paths(model)]
    report = measure_coverage(model, patients)
    if fmt == "json":
        emit_json(plain(report) | {"percent": report.percent, "condition_percent": report.condition_percent})
        if fail_under is not None and report.percent < fail_under:
            raise SystemExit(FINDINGS)
        return
    for name, fired in report.fired_by_case.items():
        click.echo(f"{name}: fires {len(fired)} rules")
        click.echo(textwrap.fill(", ".join(sorted(fired)), 100, initial_indent="    ", subsequent_indent="    "))
    click.echo(f"never fired: {', '.join(report.never_fired) or 'none'}")
    click.echo(f"never blocked: {', '.join(report.never_blocked) or 'none'}")
    click.echo("conditions never seen both true and false:")
    for rule_id, test_text, seen_true, seen_false in report.conditions_not_both:
        seen = "only true" if seen_true else "only false" if seen_false else "never judged"
        click.echo(f"  {rule_id}: {test_text} ({seen})")
    click.echo(f"rules fired and blocked: {report.percent:.1f}% of {report.rules_total}; "
               f"conditions both ways: {report.condition_percent:.1f}% of {report.conditions_total}")
    if fail_under is not None and report.percent < fail_under:
        click.echo(f"FAIL: rule coverage {report.percent:.1f}% is under {fail_under:g}%", err=True)
        raise SystemExit(FINDINGS)


@kb.command("diff")
@click.argument("old")
@click.argument("new")
@click.option("--population", default=500, show_default=True, type=click.IntRange(0, 100_000),
              help="How many generated patients to compare, besides the cases.")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the generated population.")
@click.option("--exit-code", "exit_code", is_flag=True, help="Exit 1 when any patient's advice changed (for CI).")
@format_option()
def diff(old: str, new: str, population: int, seed: int, exit_code: bool, fmt: str) -> None:
    """Advice that changes between OLD and NEW (knowledge-base folders or git revisions).

    The patients are the case files of both sides (NEW's where both have one), those cases with each
    number a rule tests set at, just below and just above its threshold (both sides' thresholds), and
    a seeded generated population."""
    with temporary_workdir() as workdir:  # a git revision is unpacked here: read its cases before it goes
        old_kb, new_kb = load_side(old, Path(workdir) / "old"), load_side(new, Path(workdir) / "new")
        cases = {path.stem: load_case(path).patient for kb in (old_kb, new_kb) for path in case_paths(kb)}
    patients = [(f"case {name}", patient) for name, patient in sorted(cases.items())]
    patients += list(threshold_sweep((old_kb, new_kb), cases))
    patients += [(f"generated #{index + 1}", facts) for index, facts in enumerate(generate(new_kb, population, seed))]
    report = diff_kbs(old_kb, new_kb, patients)
    if fmt == "json":
        emit_json({"edits": dict(report.edits), "patients": report.patients,
                   "changes": [plain(change) for change in report.changes], "summary": report.summary()})
        if exit_code and report.changes:
            raise SystemExit(FINDINGS)
        return
    for rule_id, edit in report.edits.items():
        click.echo(f"rule {edit}: {rule_id}")
    for change in report.changes:
        if change.note:
            click.echo(f"{change.patient}: {change.note}")
            continue
        click.echo(f"{change.patient}:")
        for conclusion in change.gained:
            click.echo(f"  + {conclusion}")
        for conclusion in change.lost:
            click.echo(f"  - {conclusion}")
        if change.dose_before != change.dose_after:
            click.echo(f"  ~ dose {change.dose_before} -> {change.dose_after}")
        click.echo(f"  behind it: {', '.join(change.behind) or 'no rule edit (vocabulary or dose arithmetic)'}")
    click.echo(report.summary())
    if exit_code and report.changes:
        raise SystemExit(FINDINGS)


COMMANDS: list[click.Command] = [kb]
