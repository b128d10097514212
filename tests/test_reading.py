"""One reading path: a value means the same in a patient file, JSON, --set, a CSV or JSON-lines row and
the web form; what cannot be read exactly is refused by name, and one bad row costs only itself."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.cli.web import NONE_OF, raw_from_form
from myoivig.engine import InputError, KnowledgeBase, normalize
from myoivig.engine.cohort import read_rows
from myoivig.engine.patient import parse_assignment
from myoivig.engine.population import generate
from myoivig.engine.yamlio import parse_yaml

from .conftest import KB_DIR

EARLY = KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"
PATIENTS = 2000
ROWS = 300


def _spelling(rng: random.Random, spec: Any, value: Any) -> str:
    """One way a person writes the value, as text: the same text goes into every form."""
    if isinstance(value, bool):
        return rng.choice(["true", "yes", "True"]) if value else rng.choice(["false", "no", "False"])
    if isinstance(value, list):
        return ";".join(value) if value else "none"
    if isinstance(value, (int, float)):
        text = f"{value:g}"
        if spec.unit in ("cm", "kg") and rng.random() < 0.3:
            return f"{text} {spec.unit}"
        if float(value).is_integer() and rng.random() < 0.2:
            return "0" + f"{int(value)}"  # a leading zero is decimal, in every form
        return text
    return str(value)


def _forms(kb: KnowledgeBase, tmp_path: Path) -> tuple[list[dict[str, str]], dict[str, list[dict[str, Any]]]]:
    rng = random.Random(5)
    written = [{name: _spelling(rng, kb.facts[name], value) for name, value in patient.items()}
               for patient in generate(kb, PATIENTS, seed=13)]
    forms: dict[str, list[dict[str, Any]]] = {name: [] for name in ("yaml", "json", "set", "web", "csv", "jsonl")}
    names = list(kb.facts)
    csv_path, jsonl_path = tmp_path / "c.csv", tmp_path / "c.jsonl"
    csv_lines, jsonl_lines = [",".join(names)], []
    for patient in written:
        def typed(name: str, text: str) -> Any:
            spec = kb.facts[name]
            if spec.type == "list":
                return [] if text == "none" else text.split(";")
            return text

        yaml_text = "".join(f"{name}: {typed(name, text)!r}\n" if kb.facts[name].type == "list"
                            else f"{name}: {text}\n" for name, text in patient.items())
        forms["yaml"].append(dict(parse_yaml(yaml_text.replace("'", "")) or {}))
        forms["json"].append(dict(parse_yaml(json.dumps({n: typed(n, t) for n, t in patient.items()}))))
        forms["set"].append(dict(parse_assignment(f"{n}={t if kb.facts[n].type != 'list' else typed(n, t)}")
                                 for n, t in patient.items()))
        form, lists = {}, {}
        for name, text in patient.items():
            if kb.facts[name].type == "list":
                lists[f"fact_{name}"] = typed(name, text) or [NONE_OF]
            else:
                form[f"fact_{name}"] = text
        forms["web"].append(raw_from_form(kb, form, lists))
        csv_lines.append(",".join(patient.get(name, "") for name in names))
        jsonl_lines.append(json.dumps({n: typed(n, t) for n, t in patient.items()}))
    csv_path.write_text("\n".join(csv_lines) + "\n")
    jsonl_path.write_text("\n".join(jsonl_lines) + "\n")
    forms["csv"] = [dict(row.raw or {}) for row in read_rows(kb, csv_path)]
    forms["jsonl"] = [dict(row.raw or {}) for row in read_rows(kb, jsonl_path)]
    return written, forms


def _read(kb: KnowledgeBase, raw: dict[str, Any]) -> Any:
    try:
        return normalize(kb, raw)
    except InputError as exc:
        return ("refused", sorted(str(p) for p in exc.problems))


def test_every_form_reads_the_same_facts(kb: KnowledgeBase, tmp_path: Path) -> None:
    """2,000 generated patients, each written once as text and put into six forms: identical facts."""
    written, forms = _forms(kb, tmp_path)
    assert all(len(rows) == PATIENTS for rows in forms.values())
    for index, patient in enumerate(written):
        read = {form: _read(kb, rows[index]) for form, rows in forms.items()}
        assert len({json.dumps(r, sort_keys=True) for r in read.values()}) == 1, (patient, read)


@pytest.mark.parametrize(("fact", "written", "read"), [
    ("age_years", "070", 70), ("height_cm", "0165", 165), ("age_years", "70", 70), ("age_years", "70.0", 70)])
def test_a_leading_zero_is_decimal_in_a_file_in_set_and_in_a_batch(fact: str, written: str, read: int,
                                                                    tmp_path: Path) -> None:
    """YAML 1.1 read 070 as octal 56: the age-over-65 caution vanished. Every form reads seventy, written alike."""
    patient = tmp_path / "p.yaml"
    patient.write_text(f"diagnosis: DM\nseverity: severe\n{fact}: {written}\n")
    from_file = CliRunner().invoke(cli, ["consult", str(patient), "--format", "json"]).output
    from_set = CliRunner().invoke(cli, ["consult", str(EARLY), "--set", f"{fact}={written}", "--format", "json"]).output
    cohort, out = tmp_path / "c.csv", tmp_path / "o.jsonl"
    cohort.write_text(f"diagnosis,severity,{fact}\nDM,severe,{written}\n")
    assert CliRunner().invoke(cli, ["batch", str(cohort), "-o", str(out)]).exit_code == 0
    written_as = {json.dumps(json.loads(text)["patient"][fact]) for text in (from_file, from_set, out.read_text())}
    assert written_as == {str(read)}
    if fact == "age_years" and read == 70:
        assert "caution.renal_risk_age" in {c["id"] for c in json.loads(from_file)["conclusions"]}


@pytest.mark.parametrize("written", ["1:05", "6_5", "0x41", "0o101", "0b1000001", "1_000.5", ".inf", "'70 kg 154 lb'"])
def test_numbers_people_do_not_mean_are_refused_by_name(written: str, tmp_path: Path) -> None:
    patient = tmp_path / "p.yaml"
    patient.write_text(f"diagnosis: DM\nweight_kg: {written}\n")
    result = CliRunner().invoke(cli, ["consult", str(patient)])
    assert result.exit_code == 2 and result.stdout == ""
    assert "fact 'weight_kg':" in result.stderr and "Traceback" not in result.stderr


def test_two_units_in_one_value_are_two_values(kb: KnowledgeBase) -> None:
    with pytest.raises(InputError) as caught:
        normalize(kb, {"weight_kg": "70 kg 154 lb"})
    assert "gives two values ('70 kg' and '154 lb')" in str(caught.value)
    assert normalize(kb, {"height_cm": "5 ft 5 in"}) == {"height_cm": 165.1}
    assert normalize(kb, {"height_cm": "1 m 65 cm"}) == {"height_cm": 165}


@pytest.mark.parametrize("digits", [21, 400, 5000])
def test_a_number_too_long_to_be_a_measurement_is_refused_in_every_form(digits: int, tmp_path: Path) -> None:
    number = "9" * digits
    patient = tmp_path / "p.yaml"
    patient.write_text(f"diagnosis: DM\nage_years: {number}\n")
    result = CliRunner().invoke(cli, ["consult", str(patient)])
    assert result.exit_code == 2 and "too long to be a measurement" in result.stderr
    assert len(result.stderr) < 400  # the value is clipped, not echoed
    cohort, out = tmp_path / "c.jsonl", tmp_path / "o.jsonl"
    cohort.write_text(f'{{"diagnosis": "DM", "age_years": {number}}}\n{{"diagnosis": "DM", "severity": "severe"}}\n')
    batch = CliRunner().invoke(cli, ["batch", str(cohort), "-o", str(out)])
    assert batch.exit_code == 1 and "Traceback" not in batch.output
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert "too long to be a measurement" in first["error"]["problems"][0]["message"]
    assert second["summary"]["verdict"] == "indicated"


def test_a_bad_byte_or_a_stray_quote_costs_its_row_alone(tmp_path: Path) -> None:
    """One byte that is not UTF-8 and one stray quote: every other row is advised at its own row number,
    with its own id, and the hard stop of a later row is where it belongs."""
    lines = [b"id,diagnosis,severity,age_years,anti_iga_antibodies"]
    for n in range(1, ROWS + 1):
        lines.append(f"p{n},DM,severe,50,{'true' if n % 7 == 0 else 'false'}".encode())
    lines[10] = b"p10,DM,sev\xffere,50,false"
    lines[20] = b'p20,DM,"severe,50,false'
    cohort, out = tmp_path / "c.csv", tmp_path / "o.csv"
    cohort.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")  # a BOM and Windows line ends
    result = CliRunner().invoke(cli, ["batch", str(cohort), "-o", str(out)])
    assert result.exit_code == 1, result.output
    import csv
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == ROWS
    for n, row in enumerate(rows, 1):
        assert row["row"] == str(n)
        if n == 10:
            assert row["error"] == "input: line 11: byte 0xff at column 11 is not UTF-8 text"
        elif n == 20:
            assert row["error"].startswith("input: line 21: not readable CSV") and "column 8" in row["error"]
        else:
            assert row["id"] == f"p{n}" and row["verdict"] == ("contraindicated" if n % 7 == 0 else "indicated")


def test_a_csv_header_naming_one_fact_twice_is_refused(tmp_path: Path) -> None:
    cohort = tmp_path / "c.csv"
    cohort.write_text("id,age,age_years\np1,40,41\n")
    result = CliRunner().invoke(cli, ["batch", str(cohort), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "the columns 'age' and 'age_years' both give 'age_years'" in result.stderr


def test_an_over_long_csv_line_is_one_error_record(tmp_path: Path) -> None:
    cohort, out = tmp_path / "c.csv", tmp_path / "o.jsonl"
    cohort.write_text("diagnosis,severity\n" + "DM," + "x" * 200_000 + "\nDM,severe\n")
    assert CliRunner().invoke(cli, ["batch", str(cohort), "-o", str(out)]).exit_code == 1
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["error"]["problems"][0]["message"] == "line 2: longer than 65,536 bytes"
    assert second["summary"]["verdict"] == "indicated"


def test_a_json_line_with_a_key_twice_or_a_lone_surrogate_is_one_error_record(tmp_path: Path) -> None:
    """The last of two equal keys would win (anti-IgA antibodies true, then false: a dose); refused instead."""
    cohort, out = tmp_path / "c.jsonl", tmp_path / "o.jsonl"
    cohort.write_text('{"diagnosis": "DM", "anti_iga_antibodies": true, "anti_iga_antibodies": false}\n'
                      '{"diagnosis": "\\ud800"}\n{"diagnosis": "DM", "severity": "severe"}\n')
    assert CliRunner().invoke(cli, ["batch", str(cohort), "-o", str(out)]).exit_code == 1
    first, second, third = (json.loads(line) for line in out.read_text().splitlines())
    assert "the key 'anti_iga_antibodies' is given twice" in first["error"]["problems"][0]["message"]
    assert "lone surrogate" in second["error"]["problems"][0]["message"]
    assert third["summary"]["verdict"] == "indicated"


def test_problems_are_capped_with_a_count(kb: KnowledgeBase) -> None:
    with pytest.raises(InputError) as caught:
        normalize(kb, {f"stray_{n}": 1 for n in range(100_000)})
    assert str(caught.value).startswith("100000 problems:")
    assert len(caught.value.problems) == 21 and str(caught.value.problems[-1]) == "... and 99980 more"
    assert len(str(caught.value)) < 3_000


def test_a_letter_of_another_script_is_named(kb: KnowledgeBase) -> None:
    with pytest.raises(InputError) as caught:
        normalize(kb, {"\u0430ge": 50})  # Cyrillic a
    assert "U+0430 CYRILLIC SMALL LETTER A" in str(caught.value) and "did you mean 'age'?" in str(caught.value)


def test_rounding_across_a_threshold_is_told(kb: KnowledgeBase) -> None:
    notes: list[str] = []
    assert normalize(kb, {"age_years": 17.996}, notes) == {"age_years": 18}
    assert notes == ["age_years: 17.996 -> 18 (read to 2 decimal places); this reaches the threshold 18 a rule "
                     "tests: check the value"]
    quiet: list[str] = []
    normalize(kb, {"age_years": 40.004}, quiet)
    assert quiet == ["age_years: 40.004 -> 40 (read to 2 decimal places)"]
