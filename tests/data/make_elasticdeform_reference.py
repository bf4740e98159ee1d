"""Writes elasticdeform_reference.npz: images deformed by the `elasticdeform` package (the original BATS code's
augmentation), with the displacement grids it was given, for tests/test_augment.py. Not a dependency of snntrain:
run it by hand in an environment that has the package (0.5.1 wrote the stored file; it needs numpy < 2):

    python tests/data/make_elasticdeform_reference.py

Images: random bytes with every border pixel lit (the edges are where the two can differ), in a square and a
non-square shape, and the deformations the original draws (sigma 1, 2 x 2 points) beside wider ones.
"""
from pathlib import Path

import elasticdeform
import numpy as np

rng = np.random.default_rng(20261207)
arrays = {}
for name, shape, sigma, points in [("square", (28, 28), 1.0, 2), ("wide", (28, 28), 3.0, 4),
                                   ("oblong", (20, 33), 2.0, 3)]:
    images = rng.integers(1, 256, (12, *shape), dtype=np.uint8)
    grids = rng.normal(0.0, sigma, (len(images), 2, points, points))
    arrays[f"{name}_images"] = images
    arrays[f"{name}_grids"] = grids
    arrays[f"{name}_deformed"] = np.stack([elasticdeform.deform_grid(image, grid, order=0)
                                           for image, grid in zip(images, grids)])
np.savez_compressed(Path(__file__).with_name("elasticdeform_reference.npz"), **arrays)
