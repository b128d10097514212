"""myoivig: an expert system for IVIG in myositis.

The import name `myoivig` holds the project's top-level folders as its subpackages
(pyproject.toml maps each one): `myoivig.engine` is engine/, `myoivig.cli` is cli/,
`myoivig.diagrams` is diagrams/ and `myoivig.knowledge_base` is knowledge_base/. Inside
them, `from ..engine.advice import advise` in cli/ names the engine/ folder beside it.
"""
__version__ = "0.2.0"
