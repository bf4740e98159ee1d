"""Training-set augmentation of images: random elastic deformations on a coarse grid.

The original BATS code trains its MNIST convolutional network on elastically deformed images: each control point
of a `points` x `points` grid over the image moves by a normal displacement of `sigma` pixels in each direction,
the displacement is interpolated to every pixel, and each pixel takes the value of the source pixel nearest to
where its displacement points (zero outside the image). Its experiment draws one deformation per batch (all images
of a batch move alike); `group` = 1 draws one per image.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

# Images are deformed this many at a time: the per-pixel displacements (two float64 per pixel) stay small.
_CHUNK_IMAGES = 4096


def grid_basis(size: int, points: int) -> np.ndarray:
    """[size, points]: how much each of `points` control points, evenly spaced from pixel 0 to pixel size - 1,
    weighs in the displacement at each pixel (natural cubic spline through the control points; with 2 points,
    linear). Each row sums to 1, so a uniform grid displacement moves every pixel alike."""
    knots = np.linspace(0.0, size - 1.0, points)
    return CubicSpline(knots, np.eye(points), bc_type="natural")(np.arange(size, dtype=np.float64))


def displacements(grids: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel displacements [G, 2, X, Y] (pixels, along axes x and y) of control-point grids [G, 2, P, P]."""
    points = grids.shape[-1]
    bx, by = grid_basis(shape[0], points), grid_basis(shape[1], points)
    return np.einsum("xi,gdij,yj->gdxy", bx, grids, by)


def elastic_deform(images: np.ndarray, rng: np.random.Generator, sigma: float, points: int,
                   group: int = 1) -> np.ndarray:
    """Deformed copies of `images` [N, X, Y] or [N, X, Y, C] (any dtype; channels move together).

    Consecutive runs of `group` images share one deformation (the last run may be shorter); the grids are drawn
    from `rng`, one [2, points, points] normal grid of standard deviation `sigma` pixels per run, in order.
    """
    if images.ndim not in (3, 4):
        raise ValueError(f"elastic_deform expects images shaped [N, X, Y] or [N, X, Y, C], got {images.shape}")
    if not (sigma > 0 and points >= 2 and group >= 1):
        raise ValueError(f"elastic_deform needs sigma > 0, points >= 2, group >= 1; got {sigma}, {points}, {group}")
    n, size_x, size_y = images.shape[:3]
    runs = -(-n // group)
    grids = rng.normal(0.0, sigma, (runs, 2, points, points))
    out = np.empty_like(images)
    gx, gy = np.meshgrid(np.arange(size_x), np.arange(size_y), indexing="ij")
    for lo in range(0, n, _CHUNK_IMAGES):
        hi = min(lo + _CHUNK_IMAGES, n)
        first, last = lo // group, (hi - 1) // group + 1  # the runs this chunk's images belong to
        field = displacements(grids[first:last], (size_x, size_y))[np.arange(lo, hi) // group - first]
        sx = np.rint(gx + field[:, 0]).astype(np.int64)
        sy = np.rint(gy + field[:, 1]).astype(np.int64)
        inside = (sx >= 0) & (sx < size_x) & (sy >= 0) & (sy < size_y)
        rows = np.arange(lo, hi)[:, None, None]
        moved = images[rows, np.clip(sx, 0, size_x - 1), np.clip(sy, 0, size_y - 1)]
        mask = inside if images.ndim == 3 else inside[..., None]
        out[lo:hi] = np.where(mask, moved, np.zeros((), images.dtype))
    return out
