"""Decision graphs: the whole knowledge base, and the derivation behind one consultation.

Builds graphviz.Digraph objects from the knowledge-base model and a
consultation's trace; never touches durable_rules. Styles carry meaning by
shape and line, not colour alone, so the graphs survive greyscale printing.
"""
from .graphs import case_graph, kb_graph
from .render import FORMATS, graph_format, render_graph

__all__ = ["FORMATS", "case_graph", "graph_format", "kb_graph", "render_graph"]
