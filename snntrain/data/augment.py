"""Training-set augmentation of images: random elastic deformations on a coarse grid.

The original BATS code trains its MNIST convolutional network on elastically deformed images (the `elasticdeform`
package's random grid, nearest-pixel resampling): each control point of a `points` x `points` grid spread from
the first to the last pixel moves by a normal displacement of `sigma` pixels along each axis, a cubic spline
carries the displacement to every pixel, and each pixel takes the value of the source pixel nearest to where its
displacement points, or 0 where that pixel lies outside the image. The grid step is scipy's `map_coordinates`
(order 3, as that package documents); the image step rounds as scipy's order 0 does (floor(x + 0.5)) and gathers by
index, about six times faster than `map_coordinates` on a whole split. One difference at the edges: that package's
"constant" mode also blanks a pixel that points less than half a pixel past the edge; here each pixel covers its
whole cell ("grid-constant"), so a vanishing deformation gives back the image. The experiment draws one deformation
per batch (all images of a batch move alike); `group` = 1 draws one per image.
"""
from __future__ import annotations

import numpy as np

# Images are deformed this many at a time: the per-pixel displacements and source indices stay small.
_CHUNK_IMAGES = 4096


def grid_basis(size: int, points: int) -> np.ndarray:
    """[size, points]: the weight of each of `points` control points, evenly spaced from pixel 0 to pixel
    size - 1, in the displacement of each pixel (scipy's cubic spline interpolation; with 2 points a smoothstep,
    3 t^2 - 2 t^3, from one edge to the other). Each row sums to 1: a uniform grid moves every pixel alike."""
    from scipy.ndimage import map_coordinates  # here, not at import: scipy adds a quarter second to every start

    at = np.linspace(0.0, points - 1.0, size)
    return np.stack([map_coordinates(unit, [at], order=3) for unit in np.eye(points)], axis=1)


def displacements(grids: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-pixel displacements [G, 2, X, Y] (pixels, along axes x and y) of control-point grids [G, 2, P, P]: the
    spline is separable, so one basis per axis gives what a 2-D interpolation of each grid gives."""
    points = grids.shape[-1]
    bx, by = grid_basis(shape[0], points), grid_basis(shape[1], points)
    return np.einsum("xi,gdij,yj->gdxy", bx, grids, by)


def elastic_deform(images: np.ndarray, rng: np.random.Generator, sigma: float, points: int,
                   group: int = 1) -> np.ndarray:
    """Deformed copies of `images` [N, X, Y] or [N, X, Y, C] (same dtype; the channels move together).

    Consecutive runs of `group` images share one deformation (the last run may be shorter); the grids are drawn
    from `rng`, one [2, points, points] normal grid of standard deviation `sigma` pixels per run, in order.
    """
    if images.ndim not in (3, 4):
        raise ValueError(f"elastic_deform expects images shaped [N, X, Y] or [N, X, Y, C], got {images.shape}")
    if not (sigma > 0 and points >= 2 and group >= 1):
        raise ValueError(f"elastic_deform needs sigma > 0, points >= 2, group >= 1; got {sigma}, {points}, {group}")
    n, size_x, size_y = images.shape[:3]
    grids = rng.normal(0.0, sigma, (-(-n // group), 2, points, points))
    channels = images.shape[3] if images.ndim == 4 else 1
    planes = images.reshape(n, size_x * size_y, channels)
    out = np.empty_like(planes)
    gx, gy = np.meshgrid(np.arange(size_x), np.arange(size_y), indexing="ij")
    for lo in range(0, n, _CHUNK_IMAGES):
        hi = min(lo + _CHUNK_IMAGES, n)
        first = lo // group  # the run of image lo
        field = displacements(grids[first:(hi - 1) // group + 1], (size_x, size_y))
        sx = np.floor(gx + field[:, 0] + 0.5).astype(np.intp)  # the nearest source pixel of each pixel, per run
        sy = np.floor(gy + field[:, 1] + 0.5).astype(np.intp)
        inside = (sx >= 0) & (sx < size_x) & (sy >= 0) & (sy < size_y)
        run = np.arange(lo, hi) // group - first
        source = np.where(inside, sx * size_y + sy, 0).reshape(len(field), -1, 1)[run]
        taken = np.take_along_axis(planes[lo:hi], source, axis=1)
        out[lo:hi] = np.where(inside.reshape(len(field), -1, 1)[run], taken, 0)
    return out.reshape(images.shape)
