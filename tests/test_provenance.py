"""Clinical honesty: every clinical rule quotes the document; local policy says so, and shows."""
from __future__ import annotations

from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase
from myoivig.engine.loader import normalize_space

from .conftest import KB_DIR


def test_every_quote_stands_in_the_source_document_word_for_word(kb: KnowledgeBase) -> None:
    document = normalize_space((KB_DIR / "source_document.txt").read_text())
    for rule in kb.rules:
        assert rule.provenance.sources or rule.provenance.local_policy, rule.id
        for quote in rule.provenance.sources:
            assert quote.quote in document, rule.id


def test_rules_without_a_quote_are_local_policy(kb: KnowledgeBase) -> None:
    unquoted = sorted(rule.id for rule in kb.rules if not rule.provenance.sources)
    assert all(kb.rule(rule_id).provenance.local_policy for rule_id in unquoted)
    assert unquoted  # the knowledge base has local policy, and every piece of it says so


def test_local_policy_is_marked_in_the_text_output(kb: KnowledgeBase) -> None:
    output = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "dm_refractory_steroid_contraindicated.yaml"),
                                      "--detail"]).output
    renal = kb.rule("caution.renal_product_choice").conclude
    assert renal is not None and f"{renal.statement} [local policy]" in " ".join(output.split())
    assert "Dosing weight 60 kg (actual body weight, below the ideal body weight [local policy])" in output


def test_the_source_document_is_covered(kb: KnowledgeBase) -> None:
    """Each statement of the document (but the mechanism, which is background) is quoted by a rule."""
    quoted = " ".join(q.quote for rule in kb.rules for q in rule.provenance.sources)
    for fragment in ("second-line therapy", "severe or rapidly progressive", "dysphagia or respiratory",
                     "cannot tolerate standard immunosuppressive", "1-2 g/kg of ideal body weight",
                     "creatine kinase", "renal insufficiency, thrombotic risk factors, or IgA deficiency",
                     "corticosteroids and synthetic or biologic", "headache, fever, nausea",
                     "acetaminophen and antihistamines", "careful assessment", "15 of 20",
                     "three of four patients", "refractory myositis, such as immune-mediated",
                     "manual muscle testing", "permanent residual weakness", "two to five individual daily doses",
                     "flare-up", "contraindication for corticosteroid"):
        assert fragment in quoted, fragment
    assert "immunomodulatory" in kb.background


def test_evidence_labels_say_what_each_source_is_and_how_sure_its_identification_is() -> None:
    text = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml")]).output
    assert "[1] guideline text as summarised by the source document; guideline not identified" in text
    assert "guideline recommendation" not in text
    detail = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"),
                                      "--detail"]).output
    assert "[1: guideline text as summarised by the source document; guideline not identified]" in detail
    assert "myoivig is decision support for clinicians, not a substitute for clinical judgement" in text
    assert "check every dose against the IVIG product's label" in " ".join(text.split())


def test_the_verdict_carries_the_strength_of_its_source() -> None:
    steroid = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "dm_steroid_contraindication_only.yaml")])
    assert steroid.output.startswith('IVIG: MAY BE CONSIDERED - the source says IVIG "can be tried"')
    early = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml")])
    assert early.output.startswith('IVIG: INDICATED - the source says IVIG "is recommended"')


def test_the_clinician_view_puts_verdict_cautions_and_dose_on_one_screen() -> None:
    text = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "pm_elderly_renal_thrombotic_iga.yaml")]).output
    lines = text.splitlines()
    assert len(lines) <= 40
    assert lines[0] == 'IVIG: INDICATED - the source says IVIG "is recommended"'
    first_screen = "\n".join(lines[:25])
    assert "!! CAUTIONS (age_years, iga_deficiency, renal_insufficiency, thrombotic_risk)" in first_screen
    assert "Give (cautions apply): 1 g/kg = 71 g over 2 days (35 g/day), or 2 g/kg = 141 g over 5 days" in first_screen
    hard_stops = text[text.index("HARD STOPS"):text.index("!! CAUTIONS")]
    from myoivig.engine import load_knowledge_base
    question = load_knowledge_base(None).facts["anti_iga_antibodies"].question
    assert f"ask before the first infusion: {question}" in " ".join(hard_stops.split())
    missing = text[text.index("MISSING"):]
    assert "caution." not in missing and "indication." not in missing  # no rule ids without --detail
