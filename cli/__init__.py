"""The command line, the CDS Hooks service and the web page: parse, call the engine, format, exit.

Installed as `myoivig.cli`; the program's entry is myoivig/__main__.py.
"""
