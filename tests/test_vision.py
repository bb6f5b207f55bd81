"""Tests of the real-dataset loaders (glorot_repro.data.vision), sizes from docs/paper.md §1."""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glorot_repro.data import vision
from glorot_repro.data.splits import Splits
from glorot_repro.data.vision import load_cifar10, load_mnist, load_small_imagenet, seeded_split


def documented_split(n, n_valid, seed):
    """The split as docs/choices.md states it, written here rather than taken from the loader:
    a permutation of range(n) by torch.randperm under a Generator seeded with `seed`; its first
    n_valid indices are the validation set, the rest the training set."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:n_valid], perm[n_valid:]
from glorot_repro.errors import DatasetError

from conftest import fake_mnist, write_idx


def _shared_datasets() -> Path:
    env = os.environ.get("GLOROT_SHARED_DATASETS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _check_common(s: Splits, n_inputs: int, sizes: tuple[int, int, int]) -> None:
    for x, y, n in ((s.train_x, s.train_y, sizes[0]), (s.valid_x, s.valid_y, sizes[1]),
                    (s.test_x, s.test_y, sizes[2])):
        assert x.shape == (n, n_inputs) and y.shape == (n,)
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.device.type == "cpu"
        if n:
            assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def _raises(fn, *expected_in_message: str) -> str:
    with pytest.raises(DatasetError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message  # one paragraph, no pasted traceback
    assert " is expected as " in message  # every error names the expected layout and format
    for part in expected_in_message:
        assert part in message, f"{part!r} not in {message!r}"
    return message


# ----------------------------------------------------------------------------------------------
def test_seeded_split_reproducible_disjoint_and_seed_dependent():
    a_first, a_rest = seeded_split(100, 30, seed=3)
    b_first, b_rest = seeded_split(100, 30, seed=3)
    c_first, _ = seeded_split(100, 30, seed=4)
    assert torch.equal(a_first, b_first) and torch.equal(a_rest, b_rest)
    assert not torch.equal(a_first, c_first)
    assert len(a_first) == 30 and len(a_rest) == 70
    assert sorted(torch.cat([a_first, a_rest]).tolist()) == list(range(100))
    # Independent of the global RNG, which training code also consumes.
    torch.manual_seed(123)
    assert torch.equal(seeded_split(100, 30, seed=3)[0], a_first)


# ----------------------------------------------------------------------------------------------
# MNIST
# ----------------------------------------------------------------------------------------------
def _read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    n_dims = raw[3]
    dims = struct.unpack(f">{n_dims}I", raw[4:4 + 4 * n_dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(dims)


@pytest.fixture(scope="module")
def real_mnist_raw() -> Path:
    raw = _shared_datasets() / "MNIST" / "raw"
    if not raw.is_dir():
        pytest.skip(f"real MNIST not found at {raw} (set GLOROT_SHARED_DATASETS)")
    return raw


@pytest.fixture(scope="module")
def real_mnist(real_mnist_raw) -> Splits:
    return load_mnist(real_mnist_raw.parents[1], split_seed=0)


def test_real_mnist_sizes_and_types(real_mnist):
    _check_common(real_mnist, 784, (50_000, 10_000, 10_000))
    assert real_mnist.n_inputs == 784 and real_mnist.n_classes == 10
    for y in (real_mnist.train_y, real_mnist.valid_y, real_mnist.test_y):
        assert set(y.unique().tolist()) == set(range(10))
    assert float(real_mnist.train_x.max()) == 1.0 and float(real_mnist.train_x.min()) == 0.0


def test_real_mnist_split_from_training_file(real_mnist, real_mnist_raw):
    images = torch.from_numpy(_read_idx(real_mnist_raw / "train-images-idx3-ubyte").copy())
    labels = torch.from_numpy(_read_idx(real_mnist_raw / "train-labels-idx1-ubyte").astype(np.int64))
    valid_idx, train_idx = documented_split(60_000, 10_000, seed=0)
    flat = images.reshape(60_000, -1)
    # Whatever the order: the two sets together are the training file's images, each once.
    key = torch.randn(784, dtype=torch.float64)
    split_keys = torch.cat([real_mnist.valid_x, real_mnist.train_x]).double() @ key
    assert torch.equal(split_keys.sort().values, ((flat.float() / 255).double() @ key).sort().values)
    assert torch.equal(real_mnist.valid_x, flat[valid_idx].float() / 255)
    assert torch.equal(real_mnist.valid_y, labels[valid_idx])
    assert torch.equal(real_mnist.train_x, flat[train_idx].float() / 255)
    assert torch.equal(real_mnist.train_y, labels[train_idx])


def test_real_mnist_test_set_is_official_order(real_mnist, real_mnist_raw):
    images = _read_idx(real_mnist_raw / "t10k-images-idx3-ubyte").reshape(10_000, -1)
    labels = _read_idx(real_mnist_raw / "t10k-labels-idx1-ubyte").astype(np.int64)
    assert torch.equal(real_mnist.test_x, torch.from_numpy(images.copy()).float() / 255)
    assert torch.equal(real_mnist.test_y, torch.from_numpy(labels))


def test_real_mnist_split_depends_on_seed_only(real_mnist, real_mnist_raw):
    other = load_mnist(real_mnist_raw.parents[1], split_seed=1)
    assert not torch.equal(other.valid_x, real_mnist.valid_x)
    assert torch.equal(other.test_x, real_mnist.test_x)
    # Same seed, same split (a second call reads the files again).
    again = load_mnist(str(real_mnist_raw.parents[1]), split_seed=0)
    assert torch.equal(again.valid_y, real_mnist.valid_y)
    assert torch.equal(again.train_x[:100], real_mnist.train_x[:100])


def test_reduced_mnist_tree_scales_valid(tmp_path):
    raw = fake_mnist(tmp_path, n_train=600, n_test=100)
    s = load_mnist(tmp_path)
    _check_common(s, 784, (500, 100, 100))
    expected = _read_idx(raw / "t10k-images-idx3-ubyte").reshape(100, -1)
    assert torch.equal(s.test_x, torch.from_numpy(expected.copy()).float() / 255)


def test_mnist_download_only_when_asked(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []
    real_mnist_class = torchvision.datasets.MNIST

    def downloading_mnist(root, train=True, download=False):
        # Stands in for torchvision's downloader (no network in tests), then reads as usual.
        calls.append(download)
        if download and not (Path(root) / "MNIST").exists():
            fake_mnist(Path(root))
        return real_mnist_class(root, train=train, download=False)

    monkeypatch.setattr(torchvision.datasets, "MNIST", downloading_mnist)
    with pytest.raises(DatasetError):
        load_mnist(tmp_path)
    assert calls == []  # nothing fetched (nor even read) unless asked
    s = load_mnist(tmp_path, download=True)
    assert calls[:2] == [True, True] and len(s.train_x) == 500
    assert (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_cifar_download_failure_is_a_dataset_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def failing(root, train=True, download=False):
        raise RuntimeError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", failing)
    _raises(lambda: load_cifar10(tmp_path, download=True), "network unreachable",
            str(tmp_path / "cifar-10-batches-py"))


def test_mnist_errors(tmp_path):
    missing_root = tmp_path / "nowhere"
    _raises(lambda: load_mnist(missing_root), str(missing_root), "download=true",
            "train-images-idx3-ubyte")

    raw = fake_mnist(tmp_path / "one_missing")
    (raw / "t10k-labels-idx1-ubyte").unlink()
    _raises(lambda: load_mnist(tmp_path / "one_missing"), str(raw / "t10k-labels-idx1-ubyte"),
            "missing", "download=true")

    raw = fake_mnist(tmp_path / "truncated")
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:5000])
    _raises(lambda: load_mnist(tmp_path / "truncated"), str(path), "truncated")

    path.write_bytes(path.read_bytes()[:10])  # shorter than the header
    _raises(lambda: load_mnist(tmp_path / "truncated"), str(path), "truncated")

    raw = fake_mnist(tmp_path / "swapped")
    os.replace(raw / "t10k-labels-idx1-ubyte", raw / "t10k-images-idx3-ubyte")
    _fake_labels = raw / "t10k-labels-idx1-ubyte"
    write_idx(_fake_labels, np.zeros(100))
    _raises(lambda: load_mnist(tmp_path / "swapped"), str(raw / "t10k-images-idx3-ubyte"),
            "not the expected IDX file")


# ----------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------
def _py2_pickle(batch: dict[bytes, object]) -> bytes:
    """A CIFAR batch pickled the way the official files are: Python 2 cPickle, protocol 2.

    Python 3 cannot write Python 2 ``str`` objects, so the opcodes are assembled by hand: a dict
    of str keys, b'data' as numpy.core.multiarray._reconstruct(ndarray, (0,), 'b') + its state,
    b'labels' as a list of small ints.
    """
    def py2_str(b: bytes) -> bytes:
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)

    data, labels = batch[b"data"], batch[b"labels"]
    n, d = data.shape
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + py2_str(b"b")
             + b"\x87R(K\x01M" + struct.pack("<H", n) + b"M" + struct.pack("<H", d) + b"\x86"
             + b"cnumpy\ndtype\n" + py2_str(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             + b"\x89" + py2_str(data.tobytes()) + b"tb")
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + py2_str(b"data") + array + py2_str(b"labels") + label_list + b"u.")


def _fake_cifar(root: Path, n_per_batch: int = 60, n_test: int = 40) -> dict[str, tuple]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        n = n_test if name == "test_batch" else n_per_batch
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"x.png"] * n}
        # Mix formats: the official files are Python 2 pickles; users may write their own.
        payload = (_py2_pickle(batch) if i % 3 == 0
                   else pickle.dumps(batch, protocol=2 if i % 3 == 1 else pickle.HIGHEST_PROTOCOL))
        (folder / name).write_bytes(payload)
        written[name] = (data, np.array(labels))
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                          b"horse", b"ship", b"truck"], b"num_vis": 3072, b"num_cases_per_batch": 10000},
        protocol=2))
    return written


def test_cifar10_small_tree_values_and_layout(tmp_path):
    written = _fake_cifar(tmp_path)
    s = load_cifar10(tmp_path, split_seed=5)
    _check_common(s, 3072, (240, 60, 40))

    train_data = np.concatenate([written[f"data_batch_{k}"][0] for k in range(1, 6)])
    train_labels = np.concatenate([written[f"data_batch_{k}"][1] for k in range(1, 6)])
    valid_idx, train_idx = documented_split(300, 60, seed=5)
    assert torch.equal(s.valid_x, torch.from_numpy(train_data[valid_idx.numpy()]).float() / 255)
    assert torch.equal(s.valid_y, torch.from_numpy(train_labels[valid_idx.numpy()]))
    assert torch.equal(s.train_x, torch.from_numpy(train_data[train_idx.numpy()]).float() / 255)
    assert torch.equal(s.train_y, torch.from_numpy(train_labels[train_idx.numpy()]))

    test_data, test_labels = written["test_batch"]
    assert torch.equal(s.test_x, torch.from_numpy(test_data).float() / 255)
    assert s.test_y.tolist() == test_labels.tolist()
    # (C, H, W) flatten order: element (c, h, w) of image i sits at c*1024 + h*32 + w.
    img = s.test_x[7].reshape(3, 32, 32)
    for c, h, w in ((0, 0, 1), (1, 5, 30), (2, 31, 0)):
        assert float(img[c, h, w]) == test_data[7, c * 1024 + h * 32 + w] / np.float32(255)

    other = load_cifar10(tmp_path, split_seed=6)
    assert not torch.equal(other.valid_x, s.valid_x)


def test_cifar10_errors(tmp_path):
    missing_root = tmp_path / "nowhere"
    _raises(lambda: load_cifar10(missing_root), str(missing_root / "cifar-10-batches-py"),
            "download=true", "data_batch_1")

    _fake_cifar(tmp_path / "one_missing")
    folder = tmp_path / "one_missing" / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    _raises(lambda: load_cifar10(tmp_path / "one_missing"), str(folder / "data_batch_3"), "missing")

    _fake_cifar(tmp_path / "bad")
    folder = tmp_path / "bad" / "cifar-10-batches-py"
    batch = folder / "data_batch_2"
    good = batch.read_bytes()
    not_cifar = [
        pickle.dumps([1, 2, 3]),                                         # not a dict
        pickle.dumps({b"images": np.zeros((2, 3072), np.uint8)}),        # wrong keys
        pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),  # wrong shape
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}),    # count mismatch
        pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}),   # bad label
        pickle.dumps({b"data": os.getcwd, b"labels": [0]}),              # foreign global
        good[: len(good) // 2],                                          # truncated
        b"this is not a pickle",
    ]
    for payload in not_cifar:
        batch.write_bytes(payload)
        _raises(lambda: load_cifar10(tmp_path / "bad"), str(batch), "CIFAR-10")
    batch.write_bytes(good)

    (folder / "batches.meta").write_bytes(pickle.dumps({b"names": []}))
    _raises(lambda: load_cifar10(tmp_path / "bad"), str(folder / "batches.meta"), "label_names")


# ----------------------------------------------------------------------------------------------
# Small-ImageNet
# ----------------------------------------------------------------------------------------------
def _solid_image(level: int, mode: str, size: tuple[int, int]) -> Image.Image:
    """An image whose grey ('L') conversion is ``level`` everywhere, in the given colour mode."""
    grey = Image.new("L", size, level)
    if mode == "P":
        # An adaptive palette holds the one colour exactly (the default web palette would dither).
        return grey.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    return grey.convert(mode)


_MODES = ("L", "RGB", "RGBA", "P", "LA")
_SIZES = ((37, 37), (50, 20), (13, 80), (120, 90), (8, 8))


def _fake_imagenet(root: Path, per_class: int = 11) -> dict[int, int]:
    """Three classes of solid images with distinct grey levels; returns {level: class index}."""
    folder = root / "small_imagenet"
    level_to_class = {}
    # Created out of order: class indices must come from the sorted folder names.
    for name, index in (("c_fruit", 2), ("a_bird", 0), ("b_tool", 1)):
        (folder / name).mkdir(parents=True)
        for k in range(per_class):
            level = 5 + 7 * len(level_to_class)
            mode, size = _MODES[k % len(_MODES)], _SIZES[k % len(_SIZES)]
            ext = ".png" if k % 4 else ".PNG"
            _solid_image(level, mode, size).save(folder / name / f"img_{k:02d}{ext}")
            level_to_class[level] = index
        (folder / name / "notes.txt").write_text("not an image")
    return level_to_class


def _identify(x: torch.Tensor, level_to_class: dict[int, int]) -> list[int]:
    levels = (x * 255).round().to(torch.int64)
    # Solid in, solid out: every pixel of a row carries the same level.
    assert torch.equal(levels, levels[:, :1].expand_as(levels))
    return [level_to_class[int(v)] for v in levels[:, 0]]


def test_small_imagenet_tree_splits_and_labels(tmp_path):
    level_to_class = _fake_imagenet(tmp_path)  # 33 images
    s = load_small_imagenet(tmp_path, split_seed=0)
    # 33 * 10 // 110 = 3 images each for valid and test.
    _check_common(s, 37 * 37, (27, 3, 3))
    for x, y in ((s.train_x, s.train_y), (s.valid_x, s.valid_y), (s.test_x, s.test_y)):
        assert _identify(x, level_to_class) == y.tolist()
    all_levels = torch.cat([s.train_x, s.valid_x, s.test_x])[:, 0]
    assert len(set((all_levels * 255).round().tolist())) == 33  # every image exactly once
    assert torch.bincount(torch.cat([s.train_y, s.valid_y, s.test_y])).tolist() == [11, 11, 11]

    same = load_small_imagenet(tmp_path, split_seed=0)
    assert torch.equal(same.test_x, s.test_x) and torch.equal(same.train_y, s.train_y)
    other = load_small_imagenet(tmp_path, split_seed=1)
    assert not torch.equal(torch.cat([other.valid_x, other.test_x]), torch.cat([s.valid_x, s.test_x]))


def test_small_imagenet_resizes_to_grey_37x37(tmp_path):
    path = tmp_path / "stripes.png"
    stripes = np.zeros((74, 74, 3), np.uint8)
    stripes[:, ::2] = (255, 0, 0)
    Image.fromarray(stripes).save(path)
    out = vision._decode_image(str(path))
    assert out.shape == (37, 37) and out.dtype == np.uint8
    # Antialiased 2:1 shrink of alternating red (L=76) / black columns: a flat mid level away
    # from the left/right borders (where the filter window is cut off), not aliased stripes.
    inner = out[:, 1:-1].astype(int)
    assert inner.min() >= 36 and inner.max() <= 40


def test_small_imagenet_jpeg_draft_decoding_matches_full_decode(tmp_path):
    # ImageNet files are large JPEGs, decoded at reduced scale via draft(): check it stays close
    # to decoding at full size then resizing.
    yy, xx = np.mgrid[0:300, 0:400]
    rgb = np.stack([xx * 255 // 399, yy * 255 // 299, (xx + yy) * 255 // 698], -1).astype(np.uint8)
    path = tmp_path / "big.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    fast = vision._decode_image(str(path)).astype(int)
    with Image.open(path) as img:
        full = np.asarray(img.convert("L").resize((37, 37), Image.Resampling.BILINEAR)).astype(int)
    assert fast.shape == (37, 37)
    assert np.abs(fast - full).max() <= 4


def test_small_imagenet_cache_created_reused_and_invalidated(tmp_path, monkeypatch):
    level_to_class = _fake_imagenet(tmp_path)
    cache = tmp_path / "small_imagenet_37x37.pt"
    calls = []
    real_decode = vision._decode_image
    monkeypatch.setattr(vision, "_decode_image", lambda p: calls.append(p) or real_decode(p))

    first = load_small_imagenet(tmp_path)
    assert cache.is_file() and len(calls) == 33

    calls.clear()
    second = load_small_imagenet(tmp_path)
    assert calls == []  # served from the cache
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)

    new_level = 250
    _solid_image(new_level, "RGB", (40, 40)).save(tmp_path / "small_imagenet" / "b_tool" / "new.png")
    level_to_class[new_level] = 1
    third = load_small_imagenet(tmp_path)
    assert len(calls) == 34  # file list changed: decoded again
    assert sum(len(y) for y in (third.train_y, third.valid_y, third.test_y)) == 34
    assert _identify(third.train_x, level_to_class) == third.train_y.tolist()

    calls.clear()
    load_small_imagenet(tmp_path)
    assert calls == []

    # A corrupted cache is rebuilt, not fatal.
    cache.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="cache"):
        fourth = load_small_imagenet(tmp_path)
    assert len(calls) == 34 and torch.equal(fourth.train_x, third.train_x)


def test_small_imagenet_errors(tmp_path):
    missing_root = tmp_path / "nowhere"
    _raises(lambda: load_small_imagenet(missing_root), str(missing_root / "small_imagenet"),
            "ImageNet copy", "<class_name>")

    empty = tmp_path / "empty" / "small_imagenet"
    empty.mkdir(parents=True)
    _raises(lambda: load_small_imagenet(tmp_path / "empty"), str(empty), "no class sub-folders")

    (empty / "birds").mkdir()
    (empty / "birds" / "readme.txt").write_text("no images here")
    _raises(lambda: load_small_imagenet(tmp_path / "empty"), str(empty / "birds"), "without any image")

    _fake_imagenet(tmp_path / "broken")
    bad = tmp_path / "broken" / "small_imagenet" / "a_bird" / "img_03.png"
    bad.write_bytes(bad.read_bytes()[:30])
    _raises(lambda: load_small_imagenet(tmp_path / "broken"), str(bad), "decode")
