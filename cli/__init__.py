"""myoivig: an expert system for IVIG in myositis.

This folder is the top-level package `myoivig` (see pyproject.toml); the
engine, knowledge base and diagrams are installed as its subpackages.
"""
__version__ = "0.1.0"
