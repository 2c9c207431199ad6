"""SHACL shapes compiled to SPARQL.

pySHACL walks shapes and focus nodes in Python: about 15 ms for one small patient graph, and more per
patient, not less, when many are validated together. Here every constraint of every shape becomes a
UNION branch of a few SELECT queries that return a row per violated constraint and value node, so
Oxigraph validates one patient or a thousand in one pass. The compiler covers the constraints our shapes use
(listed in ``core.VALUE_COMPONENTS``, ``core.COUNT_COMPONENTS``, ``sh:xone`` and ``sh:sparql``) and
refuses any other by name rather than skip it. pySHACL stays the reference engine: the tests compare
the two on every example and on generated patients.
"""
from kg.validate.compiled.compiler import CompiledShapes, ShapeResult, UnsupportedShape, compile_shapes

__all__ = ["CompiledShapes", "ShapeResult", "UnsupportedShape", "compile_shapes"]
