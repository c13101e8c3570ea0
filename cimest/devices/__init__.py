"""Room "devices": conductance models of memristive cells.

Pulse response with nonlinearity, cycle-to-cycle and device-to-device variation
(:mod:`cimest.devices.pulse`), and fitting that model to measured data (:mod:`cimest.devices.fit`).

May import only numpy and :mod:`cimest.errors`; nothing else from cimest.
"""
