"""FHIR R4 input: a Bundle, or a CDS Hooks request's prefetch, read into the vocabulary's facts.

Open world: a resource that is not there never makes a fact false. Every fact read says which
resource it came from; every resource that gives no fact is listed with the reason; two resources
that disagree leave a warning. Codes come from the bindings (bindings.py), never from here.

The package, by job: records.py (what a reading is), document.py (a Bundle or prefetch opened into
resources), reader.py (whose resources, and each kind read into evidence), evidence.py (evidence to
one value per fact), orders.py (is the draft order IVIG?), values.py (codings, dates, numbers).
"""
from .document import resources_of, validate_resources, validate_shell
from .orders import IvigOrder, ivig_order, medication_concept
from .reader import read_fhir
from .records import MEDICATION_SEARCHES, Evidence, FhirReading, Unmapped

__all__ = ["MEDICATION_SEARCHES", "Evidence", "FhirReading", "IvigOrder", "Unmapped", "ivig_order",
           "medication_concept", "read_fhir", "resources_of", "validate_resources", "validate_shell"]
