"""Shapeset-3x2 against the statistics of docs/shapeset.md (§1-5).

Tolerances come from the sample size: about 4 standard errors, so a correct generator fails with
probability far below 1e-3 whatever the seed, while a wrong rule (prior, scale, overlap) fails.
"""
from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from glorot_repro.data.shapeset import (CLASS_NAMES, DARK_LEVELS, LIGHT_LEVELS, N_VERTICES,
                                        Shapeset3x2, base_polygons, object_masks, render, shape_vertices,
                                        shapeset_splits, theta1_index)

N_STATS = 4000  # images for the statistical tests: about 2000 with one object, 2000 with two
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch():
    scene = Shapeset3x2(seed=1234).sample_scene(N_STATS)
    return scene, render(scene)


def grey_levels(images: torch.Tensor) -> torch.Tensor:
    return (images * 255).round().long()


def signed_area(vertices: torch.Tensor) -> torch.Tensor:
    """Shoelace area of (B, V, 2) polygons; positive when counter-clockwise."""
    following = vertices.roll(-1, dims=1)
    return 0.5 * (vertices[..., 0] * following[..., 1] - following[..., 0] * vertices[..., 1]).sum(1)


def test_dtypes_shapes_and_ranges():
    images, labels = Shapeset3x2(seed=0).sample(50)
    assert images.shape == (50, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (50,) and labels.dtype == torch.int64
    assert images.min() >= 0 and images.max() <= 1
    assert labels.min() >= 0 and labels.max() < len(CLASS_NAMES) == 9


def test_class_prior(batch):
    # §4: 1/6 for single objects, 1/9 for mixed pairs, 1/18 for same-type pairs. Pearson chi-square,
    # 8 degrees of freedom; 26.12 is its 0.999 quantile.
    scene, _ = batch
    counts = torch.bincount(scene.labels, minlength=9).double()
    prior = torch.tensor([1 / 6] * 3 + [1 / 9] * 3 + [1 / 18] * 3, dtype=torch.float64)
    expected = prior * N_STATS
    chi_square = ((counts - expected) ** 2 / expected).sum().item()
    assert chi_square < 26.12, (counts.tolist(), chi_square)


def test_label_matches_object_types(batch):
    scene, _ = batch
    types = scene.shape_types
    for label, (first, second) in {3: (0, 1), 4: (1, 2), 5: (0, 2), 6: (0, 0), 7: (1, 1), 8: (2, 2)}.items():
        pairs = types[scene.has_second & (scene.labels == label)].sort(dim=1).values
        assert len(pairs) > 0 and (pairs == torch.tensor([first, second])).all()
    single = ~scene.has_second
    assert (scene.labels[single] == types[single, 0]).all()


def test_two_disjoint_grey_level_sets(batch):
    # §1: background in one range, every object pixel in the other; nothing between 115 and 139.
    scene, images = batch
    levels = grey_levels(images)
    assert torch.allclose(images * 255, levels.float(), atol=1e-3), "pixels must be integer levels / 255"
    background = scene.background_level
    dark_background = background <= DARK_LEVELS[1]
    assert (dark_background | (background >= LIGHT_LEVELS[0])).all()
    assert background.min() >= DARK_LEVELS[0] and background.max() <= LIGHT_LEVELS[1]
    is_background = levels == background[:, None, None]
    object_dark = (levels >= DARK_LEVELS[0]) & (levels <= DARK_LEVELS[1])
    object_light = (levels >= LIGHT_LEVELS[0]) & (levels <= LIGHT_LEVELS[1])
    object_ok = torch.where(dark_background[:, None, None], object_light, object_dark)
    assert (is_background | object_ok).all()
    assert (~is_background).flatten(1).any(1).all(), "every image shows an object"
    # Each object has one level of its own (§1), drawn from the same range as the other object.
    object_values = [set(v[~b].tolist()) for v, b in zip(levels[:200], is_background[:200])]
    assert all(1 <= len(values) <= 2 for values in object_values)


def test_one_pixel_margin(batch):
    _, images = batch
    levels = grey_levels(images)
    background = levels[:, :1, :1]
    border = torch.cat((levels[:, 0], levels[:, -1], levels[:, :, 0], levels[:, :, -1]), dim=1)
    assert (border == background.flatten(1)).all()


def test_object_areas(batch):
    # §5: areas drawn by pygame from the original code span 20-528 px², median about 133
    # (single-object images, pixels != background); a pixel-centre fill would give about 113.
    scene, images = batch
    levels = grey_levels(images)
    single = ~scene.has_second
    areas = (levels[single] != scene.background_level[single, None, None]).sum((1, 2)).double().sort().values
    n = len(areas)
    assert n > 0.45 * N_STATS
    assert areas.quantile(0.01) >= 20 and areas.quantile(0.99) <= 528
    # Distribution-free interval for the median: order statistics n/2 ± 4·sqrt(n)/2 (4 sigma).
    half_width = math.ceil(2 * math.sqrt(n))
    assert areas[n // 2 - half_width] <= 133 <= areas[n // 2 + half_width], areas[n // 2].item()
    # The exact polygon areas are sx·sy·(unit area), with sx, sy in [6.4, 25.6]: between the
    # smallest triangle and the largest 20-gon (§2 step 2).
    smallest = 6.4 ** 2 * 3 * math.sqrt(3) / 16
    largest = 25.6 ** 2 * 20 * math.sin(2 * math.pi / 20) / 8
    exact = signed_area(scene.vertices[:, 0].double())
    assert exact.min() >= smallest - 1e-3 and exact.max() <= largest + 1e-3


def test_overlap_rarely_above_half(batch):
    # §5 (pygame's fill): the covered fraction of object 1 had mean 0.12, was nonzero in 67% of
    # two-object images and exceeded 0.5 in 0.18%.
    scene, _ = batch
    two = scene.has_second
    first = object_masks(scene.vertices[two, 0], scene.shape_types[two, 0])
    second = object_masks(scene.vertices[two, 1], scene.shape_types[two, 1])
    covered = (first & second).sum((1, 2)).double() / first.sum((1, 2)).double()
    n = len(covered)
    assert n > 0.45 * N_STATS
    # Expected about 0.0018·n ≈ 3.6 images above 0.5; 15 or more has Poisson probability < 1e-5.
    assert (covered > 0.5).sum() < 15
    nonzero = (covered > 0).double().mean().item()
    assert abs(nonzero - 0.67) < 4 * math.sqrt(0.67 * 0.33 / n), nonzero
    # Mean: 4 standard errors, plus 0.005 for the spec quoting two decimals.
    tolerance = 4 * covered.std().item() / math.sqrt(n) + 0.005
    assert abs(covered.mean().item() - 0.12) < tolerance, covered.mean().item()


def test_base_polygons_regular_with_horizontal_bottom_edge():
    base = base_polygons()
    for shape_id, n in enumerate(N_VERTICES):
        vertices = base[shape_id, :n].double()
        assert torch.allclose(vertices.norm(dim=1), torch.full((n,), 0.5, dtype=torch.float64), atol=1e-6)
        # Vertices n-1 and 0 form the bottom edge (largest y, rows grow downward).
        assert vertices[0, 1] == pytest.approx(vertices[n - 1, 1].item(), abs=1e-6)
        assert vertices[0, 1] == pytest.approx(vertices[:, 1].max().item(), abs=1e-6)
        assert signed_area(vertices[None]) > 0, "counter-clockwise"
        assert (base[shape_id, n:] == base[shape_id, n - 1]).all(), "padding repeats the last vertex"


def test_theta1_index_rule():
    # §2 step 1: k = randint(0, 255//n); k > 254//(2n) becomes min(255 - 254//n + k, 254).
    n = torch.tensor([3, 3, 3, 3, 20, 20, 20])
    raw = torch.tensor([0, 42, 43, 84, 6, 7, 11])
    assert theta1_index(raw, n).tolist() == [0, 42, 214, 254, 6, 250, 254]


def test_counter_rotation_restores_horizontal_base():
    # §2 step 3: after θ1, the anisotropic scale and the counter-rotation the base edge is horizontal.
    generator = torch.Generator().manual_seed(0)
    b = 200
    shape_types = torch.randint(0, 3, (b,), generator=generator)
    theta1 = (torch.rand(b, generator=generator) - 0.5) * 2 * math.pi / 3
    scale = (6.4 + 19.2 * torch.rand(b, 2, generator=generator)).sort(dim=1, descending=True).values
    vertices = shape_vertices(base_polygons()[shape_types], theta1, scale, torch.zeros(b))
    last = torch.tensor(N_VERTICES)[shape_types] - 1
    assert torch.allclose(vertices[:, 0, 1], vertices[torch.arange(b), last, 1], atol=1e-4)


def test_same_seed_same_stream_and_different_seeds_differ():
    a_images, a_labels = Shapeset3x2(seed=7).sample(64)
    b_images, b_labels = Shapeset3x2(seed=7).sample(64)
    assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)
    c_images, _ = Shapeset3x2(seed=8).sample(64)
    assert not torch.equal(a_images, c_images)


def test_stream_continues_and_state_restores():
    generator = Shapeset3x2(seed=3)
    generator.sample(16)
    state = generator.get_state()
    second_images, second_labels = generator.sample(32)
    third_images, _ = generator.sample(32)
    assert not torch.equal(second_images, third_images)
    generator.set_state(state)
    replay_images, replay_labels = generator.sample(32)
    assert torch.equal(second_images, replay_images) and torch.equal(second_labels, replay_labels)


def test_a_streams_values_stay_those_it_has_always_drawn():
    """The first 3000 training images of seed 0 as glorot_repro has drawn them since its pygame
    fill (SHA-256 of their pixels and labels, taken before the fill's arithmetic moved from int64
    to int32): a change of speed must not change a run's examples, so resumed and rerun runs see
    what the first segment saw."""
    from glorot_repro.data.streams import ShapesetStream

    stream, digest = ShapesetStream(0, torch.device("cpu"), signed=False), hashlib.sha256()
    for _ in range(300):
        x, y = stream.next_batch(10)
        digest.update(x.numpy().tobytes())
        digest.update(y.numpy().tobytes())
    assert digest.hexdigest() == "22a91eb420680e547c368ed14d12d0b6d78caac50dd5ad783c85e1617c327f7e"


def test_shapeset_splits_fixed_and_distinct():
    (valid_x, valid_y), (test_x, test_y) = shapeset_splits(100, 120, valid_seed=1, test_seed=2)
    assert valid_x.shape == (100, 1024) and test_x.shape == (120, 1024)
    assert valid_y.shape == (100,) and test_y.shape == (120,)
    assert not torch.equal(valid_x, test_x[:100])
    (again_x, again_y), _ = shapeset_splits(100, 120, valid_seed=1, test_seed=2)
    assert torch.equal(valid_x, again_x) and torch.equal(valid_y, again_y)


@pytest.mark.e2e
def test_samples_script_writes_png(tmp_path):
    out = tmp_path / "samples.png"
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "shapeset_samples.py"),
                             "--out", str(out), "--n", "8", "--seed", "0"],
                            capture_output=True, text=True, check=True, timeout=120)
    assert out.exists() and out.stat().st_size > 0
    assert str(out) in result.stdout
