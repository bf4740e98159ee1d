"""The resolved model description: plain frozen dataclasses that every later stage reads.

`snntrain.config.load` builds these from a TOML file (with defaults filled in and every value validated, each
on its own and across keys). Later stages check only what needs more than the model file: the data present
(`training.inputs`), weights drawn from the init distribution (`network.build`).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InitConfig:
    """Weight initialiser of one layer: uniform(low, high) or normal(mean, std)."""

    distribution: str = "uniform"  # "uniform" | "normal"
    low: float = -1.0
    high: float = 1.0
    mean: float = 0.0
    std: float = 1.0


@dataclass(frozen=True)
class LayerConfig:
    """One layer. `type` is "dense", "conv" or "pool"; LIF parameters do not apply to "pool"."""

    type: str
    neurons: int = 0  # dense: number of neurons
    filters: int = 0  # conv: output channels
    kernel: tuple[int, int] = (0, 0)  # conv: (kx, ky)
    size: int = 2  # pool: window and stride
    tau_s: float = 0.0
    theta: float = 0.0
    delta_theta: float = 0.0  # defaults to theta
    max_spikes: int = 1
    init: InitConfig = field(default_factory=InitConfig)


@dataclass(frozen=True)
class InputConfig:
    """Dataset and how it becomes input spikes. `shape` is the dataset's (x, y, c) or (channels,) shape.

    Image datasets use `t_window` ("latency" encoding); event datasets ("events" encoding) use `resolution` and
    `max_input_spikes`, each channel being one input neuron with its own spike train.
    """

    dataset: str
    encoding: str = "latency"
    t_window: float = 0.1  # T_w of SPEC §6
    resolution: float = 0.0  # events of a channel closer than this (s) to its last kept spike are dropped; 0: none
    max_input_spikes: int = 10  # the earliest spikes kept per channel and sample (the input spike buffer)
    shape: tuple[int, ...] = ()  # filled from the dataset registry
    classes: int = 0  # filled from the dataset registry


@dataclass(frozen=True)
class LossConfig:
    """Loss of SPEC §4: "ttfs" (tau_loss), "count" (n_true, n_false) or "time" (t_true, t_false),
    each with an optional synaptic scaling factor for label neurons that stay silent."""

    type: str
    tau_loss: float = 0.005
    n_true: int = 15
    n_false: int = 3
    t_true: float = 0.0
    t_false: float = 1.0
    silent_label_scaling: float = 0.0  # 0 = off; see kernels.losses.silent_label_scaling


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimiser of SPEC §5: "adam", "nadam" or "sgd"."""

    type: str = "adam"
    lr: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


@dataclass(frozen=True)
class ScheduleConfig:
    """Step decay: lr <- max(lr * factor, min_lr) every `every` epochs; type "none" keeps lr fixed."""

    type: str = "none"  # "none" | "step"
    factor: float = 0.5
    every: int = 10
    min_lr: float = 0.0


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation of the training images, drawn anew every epoch: type "none", or "elastic" (random elastic
    deformation: a `points` x `points` grid of control points displaced by N(0, sigma^2) pixels, one draw per
    batch or per sample, as `per` says). Validation and test images are never augmented."""

    type: str = "none"  # "none" | "elastic"
    sigma: float = 1.0
    points: int = 2
    per: str = "batch"  # "batch" | "sample"


@dataclass(frozen=True)
class TrainingConfig:
    """Epochs, batch sizes, optional sample limits (0 = whole split) and the seed."""

    epochs: int = 1
    batch_size: int = 50
    test_batch_size: int = 100
    train_samples: int = 0
    test_samples: int = 0
    seed: int = 0
    # held out of the training split for model selection: a number of samples, or a fraction of it (0 = none)
    validation: int | float = 0


@dataclass(frozen=True)
class ModelConfig:
    """A whole model file, resolved. `source` is the file it came from (for messages)."""

    name: str
    input: InputConfig
    layers: tuple[LayerConfig, ...]
    loss: LossConfig
    t_max: float  # simulation end time (s)
    precision: str = "float32"  # of spike times, sums and weights: "float32" or "float64"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    source: str = ""

    @property
    def lead(self) -> str:
        """The model file as the start of an error message ("" for a model built in Python)."""
        return f"{self.source}: " if self.source else ""
