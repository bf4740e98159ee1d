"""Everything a training run leaves behind: run directories, checkpoints, metrics, log and plots.

The bottom layer of the package: it knows files, not networks. Every file is written atomically
(`snntrain/atomic.py`, which the data and the compile cache use too) except log.txt, which is appended to.
"""
from snntrain.atomic import atomic_path, atomic_write_bytes, atomic_write_text, make_dirs
from snntrain.runs.checkpoint import Checkpoint, is_checkpoint, load_checkpoint, save_checkpoint
from snntrain.runs.plots import plot_curves, plot_raster, plot_spike_counts
from snntrain.runs.rundir import RunDir, RunInUse

__all__ = [
    "Checkpoint", "RunDir", "RunInUse", "atomic_path", "atomic_write_bytes", "atomic_write_text", "is_checkpoint",
    "make_dirs", "load_checkpoint", "plot_curves", "plot_raster", "plot_spike_counts", "save_checkpoint",
]
