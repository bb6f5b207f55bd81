"""Shapeset's rasteriser against pygame itself, the original generator's renderer
(docs/shapeset.md §1): the same vertices must give the same pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from glorot_repro.data.shapeset import N_VERTICES, Shapeset3x2, polygon_masks

pygame = pytest.importorskip("pygame")


def pygame_masks(vertices: torch.Tensor) -> np.ndarray:
    """(B, 32, 32) bool as the original draws them: pygame.draw.polygon on an 8-bit surface
    with float vertices. surfarray indexes [x, y]; transposed to our [row, column]."""
    surface = pygame.Surface((32, 32), depth=8)
    pixels = pygame.surfarray.pixels2d(surface)
    masks = []
    for polygon in vertices.tolist():
        surface.fill(0)
        pygame.draw.polygon(surface, 1, [tuple(p) for p in polygon], 0)
        masks.append(np.array(pixels).T == 1)
    del pixels  # releases the surface lock
    return np.stack(masks)


def test_random_shapes_match_pygame_fill():
    # 3000 objects (about 1000 of each type) from the generator's own geometry.
    scene = Shapeset3x2(seed=7).sample_scene(3000)
    vertices, types = scene.vertices[:, 0], scene.shape_types[:, 0]
    agree = total = identical = count = 0
    for shape_id, n in enumerate(N_VERTICES):
        polygons = vertices[types == shape_id, :n]
        equal = polygon_masks(polygons).numpy() == pygame_masks(polygons)
        agree, total = agree + equal.sum(), total + equal.size
        identical, count = identical + equal.all(axis=(1, 2)).sum(), count + len(polygons)
    print(f"pixels equal to pygame's fill: {agree / total:.6f}; identical masks: {identical}/{count}")
    # A pixel-centre fill agrees on about 99.0% of pixels and draws 5-20% of masks identically.
    assert agree / total >= 0.995
    assert identical / count >= 0.99


@pytest.mark.parametrize("polygon", [
    [(3.2, 5.7), (10.9, 5.1), (7.0, 5.99)],  # one row high: pygame draws a line
    [(4.0, 4.0), (20.0, 4.0), (20.0, 12.0), (4.0, 12.0)],  # integer rectangle, horizontal edges
    [(5.5, 3.2), (25.9, 9.1), (27.2, 9.8), (9.1, 28.4)],  # a flat middle edge after truncation
    [(16.0, 2.0), (29.0, 16.0), (16.0, 30.0), (3.0, 16.0)],  # diamond, vertices on rows
    [(2.9, 2.9), (3.1, 2.9), (3.1, 3.1)],  # smaller than a pixel
])
def test_special_cases_match_pygame(polygon):
    vertices = torch.tensor([polygon], dtype=torch.float32)
    assert (polygon_masks(vertices).numpy() == pygame_masks(vertices)).all()
