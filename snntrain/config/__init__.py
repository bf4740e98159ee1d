"""Model files: load and validate them (`load_model`), write them back (`to_toml`), and derive layer shapes."""
from snntrain.config.emit import to_toml
from snntrain.config.load import load_model, load_model_text, memory_shortfall
from snntrain.config.model import (
    AugmentConfig,
    InitConfig,
    InputConfig,
    LayerConfig,
    LossConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainingConfig,
)
from snntrain.config.shapes import format_shape, layer_shapes, parameter_count

__all__ = [
    "AugmentConfig",
    "InitConfig",
    "InputConfig",
    "LayerConfig",
    "LossConfig",
    "ModelConfig",
    "OptimizerConfig",
    "ScheduleConfig",
    "TrainingConfig",
    "format_shape",
    "layer_shapes",
    "load_model",
    "load_model_text",
    "memory_shortfall",
    "parameter_count",
    "to_toml",
]
