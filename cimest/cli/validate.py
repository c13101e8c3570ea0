"""`cimest validate` and `cimest graph`: check files, show what an architecture compiles to."""

from __future__ import annotations

import io

from cimest.cli.common import Table, err, say
from cimest.errors import CimestError
from cimest.spec.yamlio import looks_like_library


def validate(args) -> int:
    from cimest.api import load_design
    from cimest.spec import load_library

    failed = False
    for f in args.files:
        try:
            if looks_like_library(f):
                lib = load_library(f).spec
                say(f"{f}: OK (device library {lib.name}, {len(lib.entries)} entries)")
                continue
            load_design(f)
            say(f"{f}: OK")
        except CimestError as error:
            failed = True
            for m in error.messages():
                err(m)
    return 2 if failed else 0


def graph(args) -> int:
    from cimest.api import load_design
    from cimest.graph.shapes import layer_text

    d = load_design(args.file)
    g = d.graph
    s = d.spec
    say(f"{s.name}: {len(g.layers)} layers, {g.n_tiles} tiles ({s.crossbar.weight_encoding})")
    for lm in g.layers:
        copies = f" x {lm.duplicate} copies" if lm.duplicate > 1 else ""
        slices = f", {lm.slices} columns per weight" if lm.slices > 1 else ""
        say(
            f"  {lm.name}: {lm.n_in} x {lm.n_out} -> {lm.row_tiles} x {lm.col_tiles} tiles{copies} "
            f"of {lm.rows}x{lm.cols} ({lm.n_tiles}){slices}, {lm.n_devices:,} weight devices; "
            f"{100 * lm.utilisation:.0f} % of the cells and {lm.n_out} of "
            f"{lm.col_tiles * lm.weight_cols_per_tile} weight columns in use"
        )
        if lm.kind != "dense":
            say(f"      {layer_text(lm)}")
    for fb in g.feedback:
        say(f"  {fb.name}: feedback {fb.n_in} x {fb.n_out} -> {fb.n_tiles} tiles")
    table = Table(
        ("layer", "<"),
        ("role", "<"),
        ("kind", "<"),
        ("variant", "<"),
        ("bits", ">"),
        ("instances", ">"),
        ("", "<"),
    )
    for lm in g.layers:
        for (layer, role), c in g.components.items():
            if layer != lm.name:
                continue
            bits = f"{c.bits}b" if c.bits and c.kind in ("adc", "dac", "sram_buffer") else ""
            words = ""
            if c.kind == "sram_buffer" and c.bits:  # instances are bit cells
                words = f"bit cells ({c.count // c.bits:,} x {c.bits}b words)"
            table.row(
                layer, role, c.kind, d.priced[(layer, role)].variant, bits, f"{c.count:,}", words
            )
    table.print()
    if args.graphml:
        import networkx as nx

        from cimest.output import write_atomic

        buf = io.BytesIO()
        nx.write_graphml(g.graph, buf)
        write_atomic(args.graphml, buf.getvalue())
        say(f"wrote {args.graphml}")
    return 0
