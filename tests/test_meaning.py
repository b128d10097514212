"""Every check of meaning (engine/meaning.py), each broken once on purpose: exit 3's message, with
the rule it is about. A check deleted from the loader fails its row here."""
from __future__ import annotations

from pathlib import Path

import pytest

from .builders import edit, problems_of

CASES = [
    ("indication.yaml", "    derive: [covered_diagnosis]", "    derive: [covered_diagnosiz]",
     "[finding.covered_diagnosis]: derives 'covered_diagnosiz', which vocabulary.yaml does not declare"),
    ("early_initiation.yaml", '        - ref: "5"', '        - ref: "7"',
     "[finding.anti_hmgcr_myopathy]: cites reference [7], which sources.yaml does not list"),
    ("monitoring.yaml", "    provenance:\n", "    dose: {actual_weight_if_lower: true}\n    provenance:\n",
     "[monitoring.treatment_response]: only a rule concluding kind 'dosing' may carry a 'dose' block"),
    ("monitoring.yaml", "      kind: monitoring\n", "      kind: monitoring\n      therapy_class: corticosteroids\n",
     "[monitoring.treatment_response]: 'therapy_class' belongs to conclusions of kind 'combination'"),
    ("monitoring.yaml", "      kind: monitoring\n", "      kind: monitoring\n      outside_scope: true\n",
     "[monitoring.treatment_response]: 'outside_scope' belongs to conclusions of kind 'scope'"),
    ("monitoring.yaml", "      kind: monitoring\n", "      kind: monitoring\n      strength: recommended\n",
     "[monitoring.treatment_response]: 'strength' belongs to conclusions of kind 'indication'"),
    ("combination.yaml", "      rules: [combination.corticosteroids]", "      rules: [combination.corticosteroidz]",
     "[combination.without_corticosteroids]: excludes unknown rule 'combination.corticosteroidz' - did you mean"),
    ("indication.yaml", "      indication_met: true", "      indication_met: false",
     "[indication.individual_assessment]: a derived fact is tested only as `indication_met: true`"),
    ("cautions.yaml", "      age_years: {gt: 65}", "      dysphagia: {gt: 65}",
     "[caution.renal_risk_age]: 'gt' compares numbers, but 'dysphagia' is of type bool"),
    ("early_initiation.yaml", "        - autoantibodies: {contains: anti_hmgcr}", "        - diagnosis: {contains: anti_hmgcr}",
     "[finding.anti_hmgcr_myopathy]: 'contains' applies to list facts, but 'diagnosis' is of type enum"),
    ("early_initiation.yaml", "        - autoantibodies: {contains: anti_hmgcr}", "        - autoantibodies: {contains: anti_hmgcz}",
     "[finding.anti_hmgcr_myopathy]: 'anti_hmgcz' is not a value of 'autoantibodies' - did you mean 'anti_hmgcr'?"),
    ("combination.yaml", "            - current_therapies: {contains: methotrexate}", "            - current_therapies: methotrexate",
     "[combination.continue_current_therapy]: 'current_therapies' is a list: test it with 'contains'"),
    ("cautions.yaml", "      renal_insufficiency: true\n", "      renal_insufficiency: maybe\n",
     "[caution.renal_insufficiency]: 'renal_insufficiency' is true or false, not 'maybe'"),
    ("early_initiation.yaml", "        - months_since_diagnosis: {lte: 6}", "        - months_since_diagnosis: six",
     "[early_initiation.within_early_window]: 'months_since_diagnosis' is a number, not 'six'"),
    ("early_initiation.yaml", "        - months_since_diagnosis: {lte: 6}", "        - months_since_diagnosis: 6.001",
     "[early_initiation.within_early_window]: 6.001 on 'months_since_diagnosis' has more than 2 decimal places"),
    ("early_initiation.yaml", "        - not: {diagnosis: inclusion_body_myositis}", "        - not: {diagnosis: inclusion_body_myositiz}",
     "[finding.anti_hmgcr_myopathy]: 'inclusion_body_myositiz' is not a value of 'diagnosis' - did you mean"),
]


@pytest.mark.parametrize("file,old,new,message", CASES, ids=[case[3].split("]: ")[1][:40] for case in CASES])
def test_each_check_of_meaning(kb_copy: Path, file: str, old: str, new: str, message: str) -> None:
    edit(kb_copy / "rules" / file, old, new)
    found = problems_of(kb_copy)
    assert any(message in problem for problem in found), found
    assert all(f"knowledge_base/rules/{file}:" in problem or "vocabulary.yaml" in problem for problem in found)


def test_a_quote_that_names_none_of_what_its_rule_tests_is_a_warning(kb_copy: Path) -> None:
    """A pregnancy caution quoting the renal sentence validated once and was shown as [1]."""
    from myoivig.engine import load_knowledge_base
    edit(kb_copy / "vocabulary.yaml", "  months_since_diagnosis:", "  pregnancy:\n    type: bool\n    meaning: Pregnant.\n"
         "    question: Is the patient pregnant?\n  months_since_diagnosis:")
    rules = kb_copy / "rules" / "cautions.yaml"
    rules.write_text(rules.read_text() + """
  - id: caution.pregnancy
    title: Pregnancy
    when:
      pregnancy: true
    conclude:
      kind: caution
      statement: Use IVIG cautiously in pregnancy.
    provenance:
      sources:
        - ref: "1"
          quote: Using IVIG cautiously in patients with renal insufficiency, thrombotic risk factors, or IgA deficiency
""")
    _, warnings = load_knowledge_base(kb_copy, with_warnings=True)
    assert [str(w).split(": ", 1)[1] for w in warnings] == [
        "warning [caution.pregnancy]: its quotes mention none of what it tests (pregnancy): is it the right sentence? "
        "- quote the sentence that says this, or add local_policy saying why the quote applies"]
