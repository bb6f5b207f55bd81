"""Shapeset-3x2, the synthetic dataset of Glorot & Bengio (2010), generated online in batches.

Follows docs/shapeset.md §1-4 (geometry, grey levels, object count, overlap
rule, labels). The original draws one image at a time with numpy and rasterises with pygame; here
every step, pygame's polygon fill included (`polygon_masks`), is a torch operation over the whole batch, driven by one `torch.Generator`, so the same
seed gives the same images (on CPU) and the stream can be checkpointed with `get_state`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

IMAGE_SIZE = 32
# §1: two disjoint ranges of integer grey levels, both inclusive (int(0.45*255), int(0.55*255)).
DARK_LEVELS = (0, 114)
LIGHT_LEVELS = (140, 255)
# §2: shape ids 0 triangle, 1 parallelogram, 2 "ellipse" (a 20-gon), one entry per id.
N_VERTICES = (3, 4, 20)
MAX_VERTICES = max(N_VERTICES)
ROTATION_STEPS = 255  # §2: rotations come from a table of 255 angles, step 2*pi/255.
SCALE_RANGE = (0.2, 0.8)  # §2 step 2: fraction of the image width, full width of the ellipse.
MARGIN = 1.0  # §2: the bounding box is padded by 1 px so objects never touch the border.
MAX_OVERLAP = 0.5  # §3: reject when the estimated covered fraction of object 1 exceeds this.
MAX_REJECTIONS = 50  # §3: object 2 is dropped after this many rejections.

# §4: label order. Single objects are the shape id; pairs are looked up in PAIR_LABELS.
CLASS_NAMES = ("tri", "par", "ell", "tri+par", "par+ell", "tri+ell", "tri+tri", "par+par", "ell+ell")
PAIR_LABELS = ((6, 3, 5),
               (3, 7, 4),
               (5, 4, 8))


@dataclass
class Scene:
    """The geometry of a batch before rasterisation (all tensors on the generator's device).

    vertices: float32 (n, 2, MAX_VERTICES, 2), absolute (x, y) pixel coordinates of each object;
        shapes with fewer vertices repeat their last vertex. Object 2's entry is meaningless
        where has_second is False.
    shape_types: int64 (n, 2), shape id of each object.
    has_second: bool (n,), whether object 2 is present (object 1 always is).
    object_levels: int64 (n, 2), grey level 0..255 of each object.
    background_level: int64 (n,), grey level 0..255 of the background.
    labels: int64 (n,), class 0..8.
    """

    vertices: torch.Tensor
    shape_types: torch.Tensor
    has_second: torch.Tensor
    object_levels: torch.Tensor
    background_level: torch.Tensor
    labels: torch.Tensor


def rotate(points: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate (B, V, 2) points counter-clockwise about the origin by a (B,) angle."""
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    x, y = points[..., 0], points[..., 1]
    return torch.stack((x * cos - y * sin, x * sin + y * cos), dim=-1)


def base_polygons(device: torch.device | str = "cpu") -> torch.Tensor:
    """(3, MAX_VERTICES, 2) regular n-gons, one per shape id (§2).

    Inscribed in a circle of radius 0.5 with a horizontal bottom edge: vertex k sits at angle
    2*pi*(k/n + 1/(2n) + 1/4), so vertices n-1 and 0 share the largest y, the bottom of an image
    whose rows grow downward. Vertices run in the original's order (counter-clockwise, positive
    signed area); the triangle and the square repeat their last vertex so all ids share one
    tensor shape.
    """
    polygons = []
    for n in N_VERTICES:
        k = torch.arange(MAX_VERTICES, dtype=torch.float64).clamp(max=n - 1)
        angle = 2 * math.pi * (k / n + 1 / (2 * n) + 1 / 4)
        polygons.append(0.5 * torch.stack((torch.cos(angle), torch.sin(angle)), dim=-1))
    return torch.stack(polygons).to(device=device, dtype=torch.float32)


def area_ratio(n_vertices: torch.Tensor) -> torch.Tensor:
    """a(n) = n*sin(2*pi/n)/(2*pi): area of a regular n-gon over that of its circumscribed circle (§3)."""
    n = n_vertices.to(torch.float32)
    return n * torch.sin(2 * math.pi / n) / (2 * math.pi)


def theta1_index(raw: torch.Tensor, n_vertices: torch.Tensor) -> torch.Tensor:
    """Map a draw raw ~ randint(0, 255//n) to the θ1 table index (§2 step 1).

    Draws above 254//(2n) are folded to the top of the table, i.e. negative angles, so θ1 covers
    about ±pi/n: the base edge stays the bottom edge once the shape is squashed (step 3).
    """
    fold = torch.clamp(ROTATION_STEPS - (ROTATION_STEPS - 1) // n_vertices + raw, max=ROTATION_STEPS - 1)
    return torch.where(raw > (ROTATION_STEPS - 1) // (2 * n_vertices), fold, raw)


def shape_vertices(base: torch.Tensor, theta1: torch.Tensor, scale: torch.Tensor,
                   global_angle: torch.Tensor) -> torch.Tensor:
    """(B, V, 2) vertices centred at the origin from the §2 four-step recipe.

    base (B, V, 2) regular polygons; theta1 (B,) angle of step 1; scale (B, 2) = (sx, sy) with
    sx >= sy in pixels; global_angle (B,) angle of step 4.
    """
    sx, sy = scale[:, 0], scale[:, 1]
    # Step 3 undoes the tilt the squash gave the base edge: direction (cos θ1, sin θ1) becomes
    # (sx cos θ1, sy sin θ1), whose angle is atan((sy/sx) tan θ1). It is 0 when θ1 = 0.
    counter_angle = -torch.atan(sy / sx * torch.tan(theta1))
    points = rotate(base, theta1) * scale[:, None, :]
    return rotate(rotate(points, counter_angle), global_angle)


def translation_range(vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2) lowest and highest centre offsets that keep the 1 px padded bounding box in [0, 32] (§2)."""
    low = MARGIN - vertices.amin(dim=1)
    high = IMAGE_SIZE - MARGIN - vertices.amax(dim=1)
    return low, high


def overlap_estimate(local1: torch.Tensor, centre1: torch.Tensor, area1: torch.Tensor,
                     local2: torch.Tensor, centre2: torch.Tensor, area2: torch.Tensor) -> torch.Tensor:
    """(B,) the §3 heuristic estimate of how much of object 1 object 2 covers (area2*f/area1).

    local* (B, V, 2) vertices relative to their centre; centre* (B, 2); area* (B,) approximate areas.
    P sums how far each object's vertices reach toward the other along the line of centres; when
    P >= d the objects may overlap and f = 1 - exp(-(P - d) ln2 / d) grows with the depth P - d.
    """
    offset = centre2 - centre1
    distance = offset.norm(dim=-1)
    direction = offset / distance.clamp_min(1e-6)[:, None]
    reach1 = (local1 * direction[:, None, :]).sum(-1).amax(dim=1)
    reach2 = -(local2 * direction[:, None, :]).sum(-1).amin(dim=1)
    depth = (reach1 + reach2 - distance).clamp_min(0.0)
    factor = 1 - torch.exp(-depth * math.log(2) / distance.clamp_min(1e-6))
    # Concentric objects (d = 0, a measure-zero event) cover each other completely.
    factor = torch.where(distance > 0, factor, torch.ones_like(factor))
    return area2 * factor / area1


def polygon_masks(vertices: torch.Tensor) -> torch.Tensor:
    """(B, 32, 32) bool: the pixels pygame.draw.polygon(surface, colour, vertices, 0) fills (§1).

    vertices (B, V, 2) as (x = column, y = row). pygame's rule, reproduced step by step so that a
    pixel drawn here equals the one the original generator draws from the same vertices:
    - vertices become integers by C truncation (they are positive here, so floor);
    - scanline y crosses edge (x1, y1)->(x2, y2), y1 < y2, when y1 <= y < y2, or when y is the
      polygon's lowest row and the edge ends on it; it crosses at x1 + floor((y-y1)(x2-x1)/(y2-y1));
    - each row is filled between its crossings, both ends included;
    - horizontal edges strictly between the top and bottom rows are drawn whole, and a polygon one
      row high is the line from its least to its greatest x.
    A convex polygon keeps two y-monotone chains after truncation, so a row has exactly two
    crossings and its span is [least crossing, greatest crossing]; a horizontal edge touches the
    span of its row, so widening the span to cover it fills exactly their union.
    """
    # int32 throughout: the coordinates are small, so the arithmetic is exact as in int64, and
    # torch's int64 amin over the vertex axis ran about 50x slower than its int32 one.
    rows = torch.arange(IMAGE_SIZE, dtype=torch.int32, device=vertices.device)
    v = vertices.trunc().int()
    x, y = v[..., 0], v[..., 1]
    x_prev, y_prev = x.roll(1, dims=1), y.roll(1, dims=1)  # pygame's edge i: vertex i-1 -> vertex i
    downward = y_prev < y
    y1, y2 = torch.minimum(y_prev, y), torch.maximum(y_prev, y)
    x1, x2 = torch.where(downward, x_prev, x), torch.where(downward, x, x_prev)
    top, bottom = y.amin(dim=1), y.amax(dim=1)

    row = rows[None, None, :]  # (1, 1, 32) against (B, V, 1) edge terms
    ends_at_bottom = (y2 == bottom[:, None])[..., None] & (row == bottom[:, None, None])
    crosses = (y1 != y2)[..., None] & (((row >= y1[..., None]) & (row < y2[..., None])) | ends_at_bottom)
    run = (row - y1[..., None]) * (x2 - x1)[..., None]
    crossing = torch.div(run, (y2 - y1).clamp_min(1)[..., None], rounding_mode="floor") + x1[..., None]
    far = IMAGE_SIZE * 4  # beyond any column: marks "no span"
    left = torch.where(crosses, crossing, far).amin(dim=1)
    right = torch.where(crosses, crossing, -far).amax(dim=1)

    middle = (y_prev == y) & (y > top[:, None]) & (y < bottom[:, None])
    on_row = middle[..., None] & (y[..., None] == row)
    left = torch.minimum(left, torch.where(on_row, torch.minimum(x, x_prev)[..., None], far).amin(dim=1))
    right = torch.maximum(right, torch.where(on_row, torch.maximum(x, x_prev)[..., None], -far).amax(dim=1))

    one_row = (top == bottom)[:, None] & (rows[None, :] == top[:, None])
    left = torch.where(one_row, x.amin(dim=1)[:, None], left)
    right = torch.where(one_row, x.amax(dim=1)[:, None], right)
    column = rows[None, None, :]
    return (column >= left[..., None]) & (column <= right[..., None])


def object_masks(vertices: torch.Tensor, shape_types: torch.Tensor) -> torch.Tensor:
    """(B, 32, 32) bool masks of (B, MAX_VERTICES, 2) padded polygons, rasterised per shape id.

    Grouping by id lets triangles and parallelograms scan 3 and 4 edges instead of 20, and gives
    pygame exactly the vertices the original passes it (no repeated padding vertex).
    """
    masks = torch.zeros(vertices.shape[0], IMAGE_SIZE, IMAGE_SIZE, dtype=torch.bool, device=vertices.device)
    for shape_id, n in enumerate(N_VERTICES):
        of_type = shape_types == shape_id
        masks[of_type] = polygon_masks(vertices[of_type, :n])
    return masks


def scene_labels(shape_types: torch.Tensor, has_second: torch.Tensor) -> torch.Tensor:
    """(B,) §4 class of each image: the shape id for one object, PAIR_LABELS for two (order-free)."""
    pair_labels = torch.tensor(PAIR_LABELS, device=shape_types.device)
    pair = pair_labels[shape_types[:, 0], shape_types[:, 1]]
    return torch.where(has_second, pair, shape_types[:, 0])


def render(scene: Scene) -> torch.Tensor:
    """float32 (n, 32, 32) in [0, 1]: background, then object 1, then object 2 on top (§1)."""
    levels = scene.background_level[:, None, None].expand(-1, IMAGE_SIZE, IMAGE_SIZE)
    first = object_masks(scene.vertices[:, 0], scene.shape_types[:, 0])
    levels = torch.where(first, scene.object_levels[:, 0, None, None], levels)
    second = scene.has_second
    levels[second] = torch.where(object_masks(scene.vertices[second, 1], scene.shape_types[second, 1]),
                                 scene.object_levels[second, 1, None, None], levels[second])
    return levels.to(torch.float32) / 255


class Shapeset3x2:
    """Online Shapeset-3x2 stream: `images, labels = Shapeset3x2(seed=0).sample(n)`.

    All randomness comes from one `torch.Generator` seeded with `seed`, so a stream is reproducible
    and can be checkpointed with `get_state` / `set_state`.
    """

    def __init__(self, seed: int = 0, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self._base = base_polygons(self.device)
        self._n_vertices = torch.tensor(N_VERTICES, device=self.device)

    def get_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 (n, 32, 32) images in [0, 1] and int64 (n,) labels in 0..8."""
        scene = self.sample_scene(n)
        return render(scene), scene.labels

    def sample_scene(self, n: int) -> Scene:
        """Draw the geometry, grey levels and labels of n images (§1-4)."""
        # §1: a fair coin picks the polarity; the background draws from one range, objects from the other.
        light_objects = self._uniform(n) < 0.5
        background_level = torch.where(light_objects, self._levels(DARK_LEVELS, (n,)),
                                       self._levels(LIGHT_LEVELS, (n,)))
        object_levels = torch.where(light_objects[:, None], self._levels(LIGHT_LEVELS, (n, 2)),
                                    self._levels(DARK_LEVELS, (n, 2)))
        # §3: one or two objects, equally likely. §2: types uniform, rotations fixed before placement.
        wants_second = self._randint(1, 2, (n,)) == 2
        shape_types = self._randint(0, len(N_VERTICES) - 1, (n, 2))
        n_vertices = self._n_vertices[shape_types]
        # randint(0, 255//n) per object; float64 so that u < 1 never rounds up to the excluded top value.
        raw_theta1 = (self._uniform(n, 2).double() * (ROTATION_STEPS // n_vertices)).long()
        theta1 = theta1_index(raw_theta1, n_vertices) * (2 * math.pi / ROTATION_STEPS)
        # §2 step 4: numpy's randint(0, 254), i.e. table indices 0..253.
        global_angle = self._randint(0, ROTATION_STEPS - 2, (n, 2)) * (2 * math.pi / ROTATION_STEPS)

        local1, centre1, scale1 = self._place(shape_types[:, 0], theta1[:, 0], global_angle[:, 0])
        area1 = scale1.prod(-1) * area_ratio(n_vertices[:, 0])
        local2 = torch.zeros_like(local1)
        centre2 = torch.zeros_like(centre1)
        # §3: redraw only scale and translation of object 2 while the overlap estimate is too large.
        pending = wants_second.nonzero().squeeze(1)
        for _ in range(MAX_REJECTIONS):
            if pending.numel() == 0:
                break
            local, centre, scale = self._place(shape_types[pending, 1], theta1[pending, 1],
                                               global_angle[pending, 1])
            local2[pending], centre2[pending] = local, centre
            area2 = scale.prod(-1) * area_ratio(n_vertices[pending, 1])
            ratio = overlap_estimate(local1[pending], centre1[pending], area1[pending], local, centre, area2)
            pending = pending[ratio > MAX_OVERLAP]
        has_second = wants_second.clone()
        has_second[pending] = False  # still rejected after MAX_REJECTIONS draws: one-object image

        vertices = torch.stack((local1 + centre1[:, None], local2 + centre2[:, None]), dim=1)
        return Scene(vertices=vertices, shape_types=shape_types, has_second=has_second,
                     object_levels=object_levels, background_level=background_level,
                     labels=scene_labels(shape_types, has_second))

    def _place(self, shape_types: torch.Tensor, theta1: torch.Tensor,
               global_angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw scale and translation (§2 steps 2 and translation): local vertices, centre, (sx, sy)."""
        b = shape_types.shape[0]
        low, high = SCALE_RANGE
        # Sorted so sx >= sy, which keeps the base edge horizontal after step 3.
        scale = (low + (high - low) * self._uniform(b, 2)).sort(dim=-1, descending=True).values * IMAGE_SIZE
        local = shape_vertices(self._base[shape_types], theta1, scale, global_angle)
        lowest, highest = translation_range(local)
        centre = lowest + (highest - lowest) * self._uniform(b, 2)
        return local, centre, scale

    def _uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _randint(self, low: int, high: int, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform integers in [low, high], both inclusive."""
        return torch.randint(low, high + 1, shape, generator=self.generator, device=self.device)

    def _levels(self, level_range: tuple[int, int], shape: tuple[int, ...]) -> torch.Tensor:
        return self._randint(level_range[0], level_range[1], shape)


def shapeset_splits(n_valid: int, n_test: int, valid_seed: int, test_seed: int,
                    device: torch.device | str = "cpu"
                    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Fixed validation and test sets, each from its own seed (§8), images flattened to (n, 1024)."""
    def fixed_set(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = Shapeset3x2(seed=seed, device=device).sample(n)
        return images.reshape(n, -1), labels

    return fixed_set(n_valid, valid_seed), fixed_set(n_test, test_seed)
