"""Graph room: compile an ArchitectureSpec into a ComponentGraph.

May import: cimest.spec, cimest leaf modules, networkx. Never costs, engine or report.
The graph says which components each layer has (role, kind, variant, instance count), how each
layer maps onto crossbar tiles, and the data-path edges with their bit widths. It knows nothing of
energies.
"""

from cimest.graph.compile import Component, ComponentGraph, LayerMap, compile_graph

__all__ = ["Component", "ComponentGraph", "LayerMap", "compile_graph"]
