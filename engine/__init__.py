"""myoivig's reasoning core: knowledge base, rule engine, consultation.

Knows nothing of click or graphviz; the CLI and the diagrams read what it returns.
"""
from .consultation import consult
from .errors import EngineError, InputError, KnowledgeBaseError, MyoivigError, Problem
from .loader import check_knowledge_base, default_kb_path, load_knowledge_base
from .missing import find_missing
from .model import Consultation, KnowledgeBase
from .patient import normalize, parse_assignment, read_patient
from .serialize import consultation_to_dict

__all__ = [
    "Consultation", "EngineError", "InputError", "KnowledgeBase", "KnowledgeBaseError",
    "MyoivigError", "Problem", "check_knowledge_base", "consult", "consultation_to_dict",
    "default_kb_path", "find_missing", "load_knowledge_base", "normalize", "parse_assignment",
    "read_patient",
]
