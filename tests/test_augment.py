"""Elastic deformation of the training images ([augment] type = "elastic"): where pixels move, how far, which
images share a deformation, and that training with it stays deterministic, resumable, and leaves the validation
and test inputs alone."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snntrain.backends import cuda_available, get_backend
from snntrain.backends.cpu import CpuBackend
from snntrain.config import load_model
from snntrain.config.model import AugmentConfig
from snntrain.data.augment import displacements, elastic_deform, grid_basis
from snntrain.data.store import load_dataset
from snntrain.training import trainer
from snntrain.training.inputs import augment_split, encode_host
from snntrain.training.trainer import prepare
from test_train import DEFAULT, SMALL, assert_same_run, only_run, train, without_timing, metrics

ELASTIC = ("--set", 'augment={ type = "elastic", sigma = 1.0, points = 2, per = "batch" }')
REFERENCE = Path(__file__).parent / "data" / "elasticdeform_reference.npz"


def coordinate_images(n: int, size: int = 28) -> np.ndarray:
    """[n, size, size] images whose pixel (x, y) holds 1 + x * size + y: a deformed copy tells where each of its
    pixels came from (0: from outside the image)."""
    x, y = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.broadcast_to(1 + x * size + y, (n, size, size)).astype(np.uint16)


def sources(deformed: np.ndarray, size: int = 28) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source x, source y, came from inside) of every pixel of deformed coordinate images."""
    inside = deformed > 0
    flat = deformed.astype(np.int64) - 1
    return flat // size, flat % size, inside


@pytest.mark.parametrize("points", [2, 3, 5])
def test_grid_basis_is_the_cubic_spline_through_the_control_points(points: int) -> None:
    """29 pixels put the control points on whole pixels (0, 28; 0, 14, 28; every 7): the basis is 1 there for its
    own point and 0 for the others, its rows sum to 1, and per axis it gives what scipy's 2-D cubic spline
    interpolation of a whole grid gives (the interpolation elasticdeform documents)."""
    from scipy.ndimage import map_coordinates

    basis = grid_basis(29, points)
    knots = np.arange(points) * 28 // (points - 1)
    np.testing.assert_allclose(basis[knots], np.eye(points), atol=1e-12)
    np.testing.assert_allclose(basis.sum(axis=1), 1.0, atol=1e-12)  # a uniform shift moves every pixel alike
    if points == 2:  # a smoothstep from one edge to the other
        t = np.arange(29) / 28
        np.testing.assert_allclose(basis[:, 1], 3 * t ** 2 - 2 * t ** 3, atol=1e-12)
    grids = np.random.default_rng(points).normal(size=(3, 2, points, points))
    field = displacements(grids, (29, 23))
    at = np.meshgrid(np.linspace(0, points - 1, 29), np.linspace(0, points - 1, 23), indexing="ij")
    for g in range(3):
        for d in range(2):
            np.testing.assert_allclose(field[g, d], map_coordinates(grids[g, d], at, order=3), atol=1e-12)


def test_pixels_come_from_where_the_displacement_points() -> None:
    """Each pixel takes the source pixel nearest to pixel + displacement (halves round up), or 0 where that source
    pixel lies outside the image: recomputed here from the grids, drawn as elastic_deform draws them (one
    [2, P, P] normal grid per image, in order)."""
    n, sigma, points = 64, 2.0, 3
    images = coordinate_images(n)
    out = elastic_deform(images, np.random.default_rng(7), sigma, points)
    grids = np.random.default_rng(7).normal(0.0, sigma, (n, 2, points, points))
    field = displacements(grids, (28, 28))
    x, y = np.meshgrid(np.arange(28), np.arange(28), indexing="ij")
    at_x, at_y = x + field[:, 0], y + field[:, 1]
    sx, sy, inside = sources(out)
    want_x, want_y = np.floor(at_x + 0.5), np.floor(at_y + 0.5)
    np.testing.assert_array_equal(inside, (want_x >= 0) & (want_x <= 27) & (want_y >= 0) & (want_y <= 27))
    np.testing.assert_array_equal(sx[inside], want_x[inside])
    np.testing.assert_array_equal(sy[inside], want_y[inside])
    assert 0 < (~inside).sum() < 0.2 * inside.size  # some pixels look past the edge, most do not


def test_displacement_is_about_sigma() -> None:
    """With 2 x 2 control points of N(0, sigma^2), the centre pixel moves by the mean of the corners: a standard
    deviation of about sigma / 2 per axis (rounded to whole pixels), and no drift."""
    sigma = 4.0
    out = elastic_deform(coordinate_images(4000), np.random.default_rng(0), sigma, 2)
    sx, sy, inside = sources(out[:, 14, 14])
    assert inside.all()
    for moved in (sx - 14, sy - 14):
        assert abs(moved.mean()) < 0.15
        assert 0.9 * sigma / 2 < moved.std() < 1.1 * sigma / 2 + 0.1, moved.std()


def test_images_of_a_group_share_one_deformation() -> None:
    images = coordinate_images(30)
    grouped = elastic_deform(images, np.random.default_rng(1), 2.0, 2, group=7)
    for lo in range(0, 30, 7):  # 7, 7, 7, 7, then a run of 2
        run = grouped[lo:lo + 7]
        assert (run == run[0]).all()
    assert not (grouped[0] == grouped[7]).all()
    single = elastic_deform(images, np.random.default_rng(1), 2.0, 2)
    assert not (single[0] == single[1]).all()
    # channels move together, and the same generator state gives the same images
    pair = np.stack([images, images], axis=-1)
    both = elastic_deform(pair, np.random.default_rng(1), 2.0, 2, group=7)
    np.testing.assert_array_equal(both[..., 0], grouped)
    np.testing.assert_array_equal(both[..., 1], grouped)


def test_chunks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Images are deformed in chunks; a chunk boundary inside a group keeps the group's one deformation."""
    import snntrain.data.augment as augment

    images = coordinate_images(50)
    whole = elastic_deform(images, np.random.default_rng(3), 1.5, 2, group=6)
    monkeypatch.setattr(augment, "_CHUNK_IMAGES", 8)
    np.testing.assert_array_equal(elastic_deform(images, np.random.default_rng(3), 1.5, 2, group=6), whole)


class StoredGrids:
    """Stands in for the generator: elastic_deform draws all its grids in one normal() call, here stored ones."""

    def __init__(self, grids: np.ndarray) -> None:
        self.grids = grids

    def normal(self, loc: float, scale: float, size: tuple[int, ...]) -> np.ndarray:
        assert (loc, scale, tuple(size)) == (0.0, 1.0, self.grids.shape)
        return self.grids


@pytest.mark.parametrize("name", ["square", "wide", "oblong"])
def test_same_pixels_as_the_elasticdeform_package_but_half_a_pixel_past_the_edge(name: str) -> None:
    """Against the `elasticdeform` package the original uses (its outputs for stored grids, written by
    tests/data/make_elasticdeform_reference.py): every pixel equal, except one that points less than half a pixel
    past the edge, which that package blanks and which here takes the edge pixel (the images have no 0 pixel)."""
    stored = np.load(REFERENCE)
    images, grids, want = (stored[f"{name}_{part}"] for part in ("images", "grids", "deformed"))
    out = elastic_deform(images, StoredGrids(grids), 1.0, grids.shape[-1])
    field = displacements(grids, images.shape[1:])
    at = np.meshgrid(*(np.arange(size) for size in images.shape[1:]), indexing="ij")
    past_edge, outside = np.zeros(want.shape, bool), np.zeros(want.shape, bool)
    for axis, size in enumerate(images.shape[1:]):
        where = at[axis] + field[:, axis]
        past_edge |= (where < 0) | (where > size - 1)
        outside |= (where < -0.5) | (where >= size - 0.5)
    band = past_edge & ~outside
    assert band.any() and outside.any()
    np.testing.assert_array_equal(out[~band], want[~band])
    assert (want[band] == 0).all() and (out[band] > 0).all()


def test_nearest_pixel_as_scipy_rounds_it_at_halves_and_edges() -> None:
    """The nearest source pixel is the one scipy's order-0 map_coordinates picks (mode grid-constant), also where
    a displacement is a whole or half pixel exactly (a uniform grid moves the edge rows by exactly its value)."""
    from scipy.ndimage import map_coordinates

    images = coordinate_images(1, 9)[0].reshape(1, 9, 9).repeat(8, axis=0)
    grids = np.random.default_rng(4).normal(0.0, 2.0, (8, 2, 2, 2))
    grids[:6] = np.array([-1.5, -0.5, 0.5, 1.5, 8.5, -8.5])[:, None, None, None]
    field = displacements(grids, (9, 9))
    x, y = np.meshgrid(np.arange(9), np.arange(9), indexing="ij")
    for g in range(8):
        want = map_coordinates(images[g], [x + field[g, 0], y + field[g, 1]], order=0, mode="grid-constant", cval=0)
        np.testing.assert_array_equal(elastic_deform(images[g:g + 1], StoredGrids(grids[g:g + 1]), 1.0, 2)[0],
                                      want)


def test_no_images_give_no_images() -> None:
    for shape in ((0, 28, 28), (0, 28, 28, 3)):
        out = elastic_deform(np.zeros(shape, np.uint8), np.random.default_rng(0), 1.0, 2)
        assert out.shape == shape and out.dtype == np.uint8


@pytest.mark.parametrize("shape, sigma, points, group", [((5, 8), 1.0, 2, 1), ((2, 8, 8), 0.0, 2, 1),
                                                          ((2, 8, 8), 1.0, 1, 1), ((2, 8, 8), 1.0, 2, 0)])
def test_bad_arguments_are_refused(shape, sigma, points, group) -> None:
    with pytest.raises(ValueError, match="elastic_deform"):
        elastic_deform(np.zeros(shape, np.uint8), np.random.default_rng(0), sigma, points, group)


def test_a_vanishing_deformation_gives_back_the_training_spikes(tmp_path: Path) -> None:
    """sigma 1e-9 px moves no pixel: the split gets exactly the spikes of its own images back, sample by sample,
    whatever the pass order (the training images are the first ones, before those held out for validation)."""
    cfg = load_model(DEFAULT, ["training.train_samples=300", "training.validation=30", "training.test_samples=10",
                               'augment={ type = "elastic", sigma = 1e-9 }'])
    be = CpuBackend()
    session = prepare(cfg, be, tmp_path / "data", None)
    expected = encode_host(load_dataset(cfg.input.dataset, tmp_path / "data"), "train", cfg.input, 300)
    session.train.times[...] = 0.0
    session.train.counts[...] = 0
    augment_split(be, session.train, session.train_images, np.random.default_rng(0).permutation(270), cfg.augment,
                  cfg.input.t_window, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(session.train.times, expected[0][:270])
    np.testing.assert_array_equal(session.train.counts, expected[1][:270])


def test_only_the_training_split_is_deformed_in_pass_order(tmp_path: Path) -> None:
    """augment_split rewrites the training spikes in place (same arrays, same shapes); with per = "batch" the
    samples of one batch of the pass share a deformation, so identical images stay identical within a batch."""
    cfg = load_model(DEFAULT, ["training.train_samples=300", "training.validation=30", "training.test_samples=50",
                               'augment={ type = "elastic", sigma = 1.0 }'])
    be = CpuBackend()
    session = prepare(cfg, be, tmp_path / "data", None)
    train_t, val_t, test_t = session.train.times, session.validation.times, session.test.times
    before = [train_t.copy(), val_t.copy(), test_t.copy()]
    assert session.train_images.shape[0] == session.train.size == 270
    order = np.random.default_rng(0).permutation(270)
    augment_split(be, session.train, session.train_images, order, cfg.augment, cfg.input.t_window, 10,
                  np.random.default_rng(0))
    assert not np.array_equal(train_t, before[0])
    np.testing.assert_array_equal(session.train.counts, np.isfinite(train_t[..., 0]))
    np.testing.assert_array_equal(val_t, before[1])
    np.testing.assert_array_equal(test_t, before[2])
    # one image everywhere: per batch, equal within each batch of the pass and different across batches
    same = np.broadcast_to(session.train_images[:1], session.train_images.shape).copy()
    for per, equal_within in (("batch", True), ("sample", False)):
        augment_split(be, session.train, same, order, AugmentConfig("elastic", 2.0, 2, per), 0.1, 10,
                      np.random.default_rng(1))
        batch = train_t[order[:10]]
        assert (batch == batch[0]).all() == equal_within
        assert not (train_t[order[0]] == train_t[order[10]]).all()


@pytest.mark.cudasim
@pytest.mark.skipif(not cuda_available(), reason="no CUDA GPU and the CUDA simulator is off")
def test_cuda_split_gets_the_same_deformed_spikes(tmp_path: Path) -> None:
    """On the CUDA backend the deformed spikes are uploaded into the split's device arrays, in place."""
    cfg = load_model(DEFAULT, ["training.train_samples=120", "training.validation=20", "training.test_samples=10",
                               'augment={ type = "elastic", sigma = 1.0 }'])
    results = []
    for device in ("cpu", "cuda"):
        session = prepare(cfg, get_backend(device), tmp_path / "data", None)
        times = session.train.times
        augment_split(session.backend, session.train, session.train_images, np.arange(100)[::-1], cfg.augment,
                      cfg.input.t_window, 20, np.random.default_rng(5))
        results.append((session.backend.to_host(times).copy(), session.backend.to_host(session.train.counts).copy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])


@pytest.fixture(scope="module")
def elastic_reference(tmp_path_factory) -> Path:
    """An uninterrupted 2-epoch run with elastic deformation."""
    runs = tmp_path_factory.mktemp("elastic")
    result = train(runs, *SMALL, *ELASTIC, "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    assert ("training images deformed anew every epoch (elastic, sigma 1 px, 2 x 2 points, one draw per batch)"
            in result.stdout)
    return only_run(runs)


def test_augmented_training_is_deterministic_and_resumes_exactly(elastic_reference: Path, tmp_path: Path) -> None:
    """The deformations come from the run's generator after each epoch's order: a run stopped after epoch 1 and
    resumed repeats the uninterrupted run, weights and metrics alike; without augmentation the run differs."""
    runs = tmp_path / "runs"
    assert train(runs, *SMALL, *ELASTIC, "--set", "training.epochs=1").exit_code == 0
    run = only_run(runs)
    result = train(tmp_path / "unused", "--resume", run, "--set", "training.epochs=2", model=None)
    assert result.exit_code == 0, result.output
    assert_same_run(run, elastic_reference)
    plain = tmp_path / "plain"
    assert train(plain, *SMALL, "--set", "training.epochs=1").exit_code == 0
    first = without_timing(metrics(elastic_reference))[0]
    plain_row = without_timing(metrics(only_run(plain)))[0]
    assert first["train_loss"] != plain_row["train_loss"]
    assert 'type = "elastic"' in (elastic_reference / "config.toml").read_text()


def test_every_epoch_draws_new_deformations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def spy(backend, split, *args):
        augment_split(backend, split, *args)
        seen.append(split.times.copy())

    monkeypatch.setattr(trainer, "augment_split", spy)
    assert train(tmp_path, *SMALL, *ELASTIC, "--set", "training.epochs=2").exit_code == 0
    assert len(seen) == 2 and not np.array_equal(seen[0], seen[1])
