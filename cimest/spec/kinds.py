"""The component kinds cimest knows and the actions each can perform.

Room: spec. The one source of truth for kinds and actions: the graph declares components of
these kinds, the engine and the analytic counter emit counts only for these actions, and loading
a library checks every (kind, action) an architecture needs.
"""

from __future__ import annotations

KIND_ACTIONS: dict[str, tuple[str, ...]] = {
    "cell": ("read", "set_pulse", "reset_pulse", "verify_read"),
    "row_driver": ("drive",),
    "ternary_driver": ("drive",),
    "dac": ("convert",),
    "adc": ("convert",),
    "column_sense": ("sense",),
    "comparator": ("compare",),
    "rng": ("bit",),
    "mux": ("switch",),
    "shift_add": ("op",),
    "accumulator": ("op",),
    "integrator": ("step",),
    "sample_hold": ("sample",),
    "adder": ("op",),
    "multiplier": ("op",),
    "activation": ("evaluate",),
    "sram_buffer": ("read_bit", "write_bit"),
    "write_driver": ("pulse",),
    "interconnect": ("transfer_bit",),
    "register": ("read_bit", "write_bit"),
    "io_link": ("transfer_bit",),
    "wire": ("read", "write", "half_select"),
    "decoder": ("decode",),
    "level_shifter": ("shift",),
}

KINDS: tuple[str, ...] = tuple(KIND_ACTIONS)
