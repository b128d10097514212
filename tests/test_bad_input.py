"""Input that cannot hurt it: every bad input is a message naming what is wrong, exit 2 (or 3 for a
knowledge base), no traceback, nothing on standard output - and it ends quickly in little memory."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli

from .builders import line_of
from .conftest import KB_DIR

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)
) + "current_therapies: *i\n"


def consult_file(tmp_path: Path, content: str | bytes, *args: str) -> object:
    path = tmp_path / "patient.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return CliRunner().invoke(cli, ["consult", str(path), *args])


def refused(result: object, message: str, code: int = 2) -> None:
    assert (result.exit_code, result.stdout) == (code, ""), result.output  # type: ignore[attr-defined]
    assert message in result.stderr, result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]


def run_bounded(args: list[str], stdin: bytes = b"") -> tuple[subprocess.CompletedProcess[bytes], float, int]:
    """Run the CLI in a child process; return it (its own report cut from stderr), its wall time and
    its peak memory in MB, as the child itself measured it."""
    # VmHWM, not ru_maxrss: Linux children inherit the parent's ru_maxrss across fork and exec
    code = ("import atexit, sys; atexit.register(lambda: sys.stderr.write('\\nMAXRSS %s\\n' % [line.split()[1] "
            "for line in open('/proc/self/status') if line.startswith('VmHWM:')][0])); "
            "from myoivig.cli.main import main; main(sys.argv[1:])")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True,
                            timeout=60, check=False)
    elapsed = time.perf_counter() - start
    stderr, _, report = result.stderr.rpartition(b"\nMAXRSS ")
    result.stderr = stderr
    return result, elapsed, int(report) // 1024


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert path.stat().st_size < 600
    result, elapsed, peak = run_bounded(["consult", str(path)])
    assert result.returncode == 2 and result.stdout == b""
    assert b"anchors and aliases (&name, *name) are not accepted" in result.stderr
    assert len(result.stderr) < 500 and b"Traceback" not in result.stderr
    assert elapsed < 3 and peak < 100  # measured 0.4 s and 42 MB, imports included; the bomb took 345 MB before


def test_deep_nesting_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("severity: " + "[" * 100_000 + "]" * 100_000 + "\n")
    result, elapsed, _ = run_bounded(["consult", str(path)])
    assert result.returncode == 2 and result.stdout == b""
    assert b"nested more than 50 levels deep" in result.stderr and b"Traceback" not in result.stderr
    assert elapsed < 10


@pytest.mark.parametrize("content", [b"x: [" + b"1, " * 600_000 + b"]\n", b"# " + b"c" * 2_000_000 + b"\n"],
                         ids=["long list", "long comment"])
def test_an_oversized_patient_file_is_refused_before_parsing(tmp_path: Path, content: bytes) -> None:
    start = time.perf_counter()
    refused(consult_file(tmp_path, content), "larger than 1,000,000 bytes, the most a patient file may be")
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("content", ["", "# only a comment\n", "{}\n", "---\n"], ids=["empty", "comment", "{}", "---"])
def test_a_patient_with_no_facts_is_refused(tmp_path: Path, content: str) -> None:
    refused(consult_file(tmp_path, content), "holds no facts: give at least one")


def test_empty_standard_input_and_dev_null_are_refused() -> None:
    refused(CliRunner().invoke(cli, ["consult", "-"], input=""), "standard input holds no facts")
    refused(CliRunner().invoke(cli, ["consult", "/dev/null"]), "/dev/null holds no facts")


@pytest.mark.parametrize("spelling,value", [("yes", True), ('"yes"', True), ("Y", True), ("true", True),
                                            ("no", False), ('"FALSE"', False), ("n", False)])
def test_one_set_of_boolean_spellings(spelling: str, value: bool) -> None:
    for args, stdin in ((["consult", "-", "--format", "json"], f"diagnosis: DM\ndysphagia: {spelling}\n"),
                        (["consult", "-", "--format", "json", "--set", f"dysphagia={spelling}"], "diagnosis: DM\n")):
        result = CliRunner().invoke(cli, args, input=stdin)
        assert result.exit_code == 0, result.output
        assert f'"dysphagia": {str(value).lower()}' in result.stdout


@pytest.mark.parametrize("spelling", ["on", "off", "1", "0", '"maybe"'])
def test_other_boolean_spellings_are_refused(tmp_path: Path, spelling: str) -> None:
    refused(consult_file(tmp_path, f"dysphagia: {spelling}\n"), "is not true or false; allowed: true, false (or yes/no, y/n, in any case)")


@pytest.mark.parametrize("spelling,value", [("7e1", 70), ("1.0e2", 100), ('"70"', 70), ("70.004", 70), ("70.5", 70.5)])
def test_numbers_in_every_spelling(tmp_path: Path, spelling: str, value: float) -> None:
    result = consult_file(tmp_path, f"diagnosis: DM\nweight_kg: {spelling}\n", "--format", "json")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert f'"weight_kg": {value}' in result.stdout  # type: ignore[attr-defined]


@pytest.mark.parametrize("spelling", ["nan", ".inf", '"heavy"', "true"])
def test_non_numbers_are_refused(tmp_path: Path, spelling: str) -> None:
    refused(consult_file(tmp_path, f"weight_kg: {spelling}\n"), "is not a number")


@pytest.mark.parametrize("date", ["2020-13-45", "2020-12-05", "2001-12-14t21:59:43.10-05:00"])
def test_a_date_is_text_not_a_crash(tmp_path: Path, date: str) -> None:
    """YAML 1.1 reads 2020-12-05 as a date, and 2020-13-45 raised a bare ValueError with a traceback;
    no fact is a date, so a date-shaped answer is text, refused by name like any other."""
    refused(consult_file(tmp_path, f"diagnosis: DM\nage_years: {date}\n"),
            f"fact 'age_years': \"{date}\" is not a number; allowed: a number from 0 to 120 years")


def test_a_tag_is_refused_at_its_place_not_a_crash(tmp_path: Path) -> None:
    """!!int x raised a bare ValueError with a traceback; a tag is refused like an anchor."""
    refused(consult_file(tmp_path, "diagnosis: DM\nage_years: !!int x\n"),
            "patient.yaml:2:12: a tag (!!int) is not accepted; write the value plainly, or quote it")


def test_non_utf8_standard_input() -> None:
    refused(CliRunner().invoke(cli, ["consult", "-"], input=b"diagnosis: DM\n\xff\xfe\n"),
            "standard input:2:1: not UTF-8 text")


def test_a_nul_byte_is_reported_where_it_is(tmp_path: Path) -> None:
    refused(consult_file(tmp_path, b"diagnosis: DM\ndysphagia: tr\x00ue\n"), "patient.yaml:2:14: a NUL byte")


def test_every_mistake_is_reported_in_one_run(tmp_path: Path) -> None:
    result = consult_file(tmp_path, "severity: worst\ndiagnosis: dermatomyosits\ndysphagia: sometimes\n"
                                    "height_cm: 1650\nweigth_kg: 70\n")
    refused(result, "5 problems:")
    for message in ("fact 'severity': 'worst' is not allowed", "(did you mean 'dermatomyositis'?)",
                    "fact 'dysphagia': \"sometimes\" is not true or false",
                    "fact 'height_cm': 1650 cm is implausible", "unknown fact 'weigth_kg' (did you mean 'weight_kg'?)"):
        assert message in result.stderr  # type: ignore[attr-defined]


def test_a_rejected_value_is_echoed_bounded(tmp_path: Path) -> None:
    result = consult_file(tmp_path, "dysphagia: [" + ", ".join(["[a, b, [c, d, [e]]]"] * 5000) + "]\n")
    refused(result, "is not true or false")
    assert len(result.stderr) < 400  # type: ignore[attr-defined]


# ---------------------------------------------------------------- broken knowledge bases
def kb_validate(kb_dir: Path) -> object:
    return CliRunner().invoke(cli, ["kb", "validate", "--kb", str(kb_dir)])


def test_a_non_utf8_rule_file_is_exit_3_with_its_line(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "side_effects.yaml"
    line = line_of(rules, "      statement: Watch for headache, fever, nausea and infusion reactions.")
    rules.write_bytes(rules.read_bytes().replace(b"Watch for headache", b"Watch for h\xe9adache", 1))
    refused(kb_validate(kb_copy), f"knowledge_base/rules/side_effects.yaml:{line}:29: error: not UTF-8 text", code=3)
    assert "not UTF-8 text" in kb_validate(kb_copy).stderr  # type: ignore[attr-defined]


def test_a_deeply_nested_rule_file_is_exit_3(kb_copy: Path) -> None:
    (kb_copy / "rules" / "deep.yaml").write_text("rules:\n  - when: " + "[" * 50_000 + "]" * 50_000 + "\n")
    refused(kb_validate(kb_copy), "knowledge_base/rules/deep.yaml:2:", code=3)
    assert "nested more than 50 levels deep" in kb_validate(kb_copy).stderr  # type: ignore[attr-defined]


def test_anchors_in_a_rule_file_are_exit_3(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "side_effects.yaml"
    rules.write_text(rules.read_text().replace("    title: Common side effects", "    title: &t Common side effects", 1))
    refused(kb_validate(kb_copy), "anchors and aliases", code=3)


def test_an_oversized_rule_file_is_exit_3(kb_copy: Path) -> None:
    (kb_copy / "rules" / "huge.yaml").write_text("# " + "x" * 2_100_000 + "\nrules: []\n")
    refused(kb_validate(kb_copy), "larger than 2,000,000 bytes", code=3)


def test_a_value_listed_twice_is_exit_3_at_the_repeat(kb_copy: Path) -> None:
    """durable_rules aborted the whole process ("double free or corruption") on a list fact whose
    values held a duplicate; the schema now refuses it, pointing at the second one."""
    vocabulary = kb_copy / "vocabulary.yaml"
    line = line_of(vocabulary, "    values: [corticosteroids, methotrexate, azathioprine, mycophenolate, tacrolimus,")
    vocabulary.write_text(vocabulary.read_text().replace("[corticosteroids, methotrexate,",
                                                         "[corticosteroids, methotrexate, methotrexate,", 1))
    refused(kb_validate(kb_copy), f"knowledge_base/vocabulary.yaml:{line}:45: error: "
                                  "facts.current_therapies.values[2]: 'methotrexate' is given twice", code=3)


def test_a_stray_field_is_exit_3_at_the_field_itself(kb_copy: Path) -> None:
    """jsonschema reported a misspelt field at the mapping holding it (the file's 1:1 for a top-level
    key); the editor needs the key's own line, what is allowed there, and the likely spelling."""
    rules = kb_copy / "rules" / "side_effects.yaml"
    text = rules.read_text()
    rules.write_text(text.replace("    title: Common side effects", "    titel: Common side effects", 1)
                     + "extra_key: 1\n")
    line = line_of(rules, "    titel: Common side effects")
    result = kb_validate(kb_copy)
    refused(result, f"knowledge_base/rules/side_effects.yaml:{len(text.splitlines()) + 1}:1: error: (top level): "
                    "'extra_key' is not a field here; allowed: rules - see engine/schema", code=3)
    assert (f"knowledge_base/rules/side_effects.yaml:{line}:5: error [side_effects.common]: 'titel' is "
            "not a field here; allowed: id, title, when, derive, conclude, dose, excludes, priority, provenance - "
            "did you mean 'title'?") in result.stderr  # type: ignore[attr-defined]


def test_kb_validate_checks_the_case_files(kb_copy: Path) -> None:
    case = kb_copy / "cases" / "other_diagnosis.yaml"
    case.write_text(case.read_text().replace("diagnosis: other", "diagnosis: sarcoid_myopathy", 1))
    result = kb_validate(kb_copy)
    refused(result, "knowledge_base/cases/other_diagnosis.yaml:", code=3)
    assert "patient: fact 'diagnosis': 'sarcoid_myopathy' is not allowed" in result.stderr  # type: ignore[attr-defined]


def test_the_shipped_knowledge_base_and_cases_validate() -> None:
    result = kb_validate(KB_DIR)
    assert result.exit_code == 0 and result.stderr == ""  # type: ignore[attr-defined]


def test_an_empty_knowledge_base_folder_is_exit_3_with_each_missing_file(tmp_path: Path) -> None:
    empty = tmp_path / "kb"
    empty.mkdir()
    result = kb_validate(empty)
    refused(result, "kb/vocabulary.yaml:1:1: error: cannot read the file: No such file or directory", code=3)
    assert "kb/sources.yaml:1:1: error: cannot read the file" in result.stderr  # type: ignore[attr-defined]
    assert "kb/rules:1:1: error: no rule files (rules/*.yaml)" in result.stderr  # type: ignore[attr-defined]
    consult = CliRunner().invoke(cli, ["consult", "-", "--kb", str(empty)], input="diagnosis: DM\n")
    refused(consult, "the knowledge base is invalid", code=3)
