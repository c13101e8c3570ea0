"""cimest: energy, area, latency and accuracy of compute-in-memory chips that train in situ.

The data flow (see DESIGN.md): architecture YAML -> ArchitectureSpec -> ComponentGraph;
device-library YAML -> Library; engine or analytic counter -> EventCounts;
costs.estimate(graph, counts, library) -> Estimate; report.
"""

__version__ = "0.1.0"
