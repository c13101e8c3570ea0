"""Costs room: library lookup, technology scaling, energy/area/leakage, latency schedule.

May import: cimest.spec, cimest.graph, cimest leaf modules, networkx, numpy. Never the engine:
the cost model never runs training; it prices EventCounts from any producer.
"""
