"""The dialect's machine-readable schemas, shipped as package data.

A package (rather than a loose folder) so that ``importlib.resources.files("schemas")``
finds ``callscript.xsd`` in an installed callscript exactly as in a checkout.
"""
