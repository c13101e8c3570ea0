"""Engine room: learning rules, peripheral behaviour, event counting, datasets, checkpoints.

May import: cimest.spec, cimest.graph, cimest.devices, cimest leaf modules, numpy. Never costs,
report or sweep: the engine produces EventCounts and accuracy and never looks at energies.
"""
