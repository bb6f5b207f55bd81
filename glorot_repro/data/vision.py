"""Real-image datasets of the paper (docs/paper.md §1), loaded whole into memory as CPU tensors.

* MNIST: 50k train / 10k valid / 10k test, 28x28 = 784 inputs.
* CIFAR-10: 40k train / 10k valid / 10k test, 32x32x3 = 3072 inputs.
* Small-ImageNet: 90k train / 10k valid / 10k test, 37x37 grey = 1369 inputs.

Every loader returns a :class:`~glorot_repro.data.splits.Splits` whose inputs are float32
``(N, n_inputs)`` in [0, 1] and whose labels are int64. The paper describes no preprocessing, so
pixels are only divided by 255 (docs/paper.md §1 marks the [0, 1] range as a choice).

The paper carves its validation sets out of the official training files but does not say how;
here a seeded random permutation (:func:`seeded_split`, shared by all three loaders) picks them,
so a split is reproducible from ``split_seed`` alone.

Any missing or malformed file raises :class:`~glorot_repro.errors.DatasetError` with one
paragraph naming the expected path and layout and how to obtain the files.
"""
from __future__ import annotations

import logging
import os
import pickle
import struct
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glorot_repro.data.splits import Splits
from glorot_repro.errors import DatasetError

log = logging.getLogger(__name__)

__all__ = ["load_mnist", "load_cifar10", "load_small_imagenet", "seeded_split", "scaled_count"]

# Sizes from docs/paper.md §1.
MNIST_TRAIN_FILE_SIZE = 60_000
MNIST_VALID_SIZE = 10_000
CIFAR_TRAIN_FILE_SIZE = 50_000
CIFAR_VALID_SIZE = 10_000
IMAGENET_SIDE = 37
IMAGENET_TRAIN_SIZE = 90_000

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"

IMAGENET_DIR = "small_imagenet"
IMAGENET_CACHE = f"small_imagenet_{IMAGENET_SIDE}x{IMAGENET_SIDE}.pt"
# Bump when the decoding changes, so that old caches are not silently reused.
_IMAGENET_CACHE_VERSION = 1


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
def seeded_split(n: int, n_first: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(n)`` at random into ``n_first`` indices and the other ``n - n_first``.

    A private ``torch.Generator`` seeded with ``seed`` draws the permutation, so the split depends
    on the seed only (not on the global RNG state, which training code also consumes). Both index
    tensors are returned in permutation order.
    """
    if not 0 <= n_first <= n:
        raise ValueError(f"cannot take {n_first} of {n} items")
    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=generator)
    return perm[:n_first], perm[n_first:]


def scaled_count(n_available: int, paper_part: int, paper_total: int) -> int:
    """``paper_part`` items when the full set of ``paper_total`` is there, proportionally fewer otherwise.

    Lets the loaders run on reduced trees (tests, quick experiments) while giving exactly the
    paper's split sizes on the real data.
    """
    return min(paper_part, n_available * paper_part // paper_total)


def _to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, ...) -> float32 (N, prod(...)) in [0, 1], in the tensor's own memory order."""
    n_inputs = int(np.prod(images.shape[1:]))
    return images.reshape(images.shape[0], n_inputs).to(torch.float32).div_(255.0)


def _paragraph(*sentences: str) -> str:
    return " ".join(s.strip() for s in sentences if s)


# ----------------------------------------------------------------------------------------------
# MNIST
# ----------------------------------------------------------------------------------------------
_MNIST_FILES = {
    # name: (IDX magic number, expected item shape)
    "train-images-idx3-ubyte": (0x0803, (28, 28)),
    "train-labels-idx1-ubyte": (0x0801, ()),
    "t10k-images-idx3-ubyte": (0x0803, (28, 28)),
    "t10k-labels-idx1-ubyte": (0x0801, ()),
}


def _mnist_layout(raw: Path) -> str:
    return (f"MNIST is expected as torchvision lays it out: the four uncompressed IDX files "
            f"{', '.join(_MNIST_FILES)} in {raw}.")


def _check_idx(path: Path, magic: int, item_shape: tuple[int, ...], layout: str) -> int:
    """Check an IDX file's header and size before torchvision parses it; return its item count.

    torchvision's reader turns a truncated or foreign file into a bare assertion or ``view``
    error; reading the 4..16-byte header here lets us say exactly what is wrong.
    """
    n_dims = 1 + len(item_shape)
    header_len = 4 * (1 + n_dims)
    hint = "Delete it and pass dataset.download=true to fetch a fresh copy."
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(header_len)
    except OSError as exc:
        raise DatasetError(_paragraph(f"Cannot read MNIST file {path} ({exc}).", layout, hint)) from exc
    if len(header) < header_len:
        raise DatasetError(_paragraph(
            f"MNIST file {path} is truncated: {size} bytes, shorter than its {header_len}-byte "
            f"IDX header.", layout, hint))
    found_magic, *dims = struct.unpack(f">{1 + n_dims}I", header)
    if found_magic != magic or tuple(dims[1:]) != item_shape:
        raise DatasetError(_paragraph(
            f"MNIST file {path} is not the expected IDX file: header magic {found_magic:#06x} and "
            f"dims {dims}, expected magic {magic:#06x} and item shape {item_shape}.", layout, hint))
    expected = header_len + int(np.prod(dims))
    if size != expected:
        raise DatasetError(_paragraph(
            f"MNIST file {path} has {size} bytes but its IDX header announces {dims[0]} items, "
            f"i.e. {expected} bytes: the file is truncated or corrupted.", layout, hint))
    return dims[0]


def _mnist_part(root: Path, train: bool, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One official MNIST file pair as (uint8 (N, 28, 28), int64 (N,)), read by torchvision."""
    from torchvision.datasets import MNIST

    try:
        ds = MNIST(str(root), train=train, download=False)
        images, labels = ds.data, ds.targets.to(torch.int64)
    except Exception as exc:  # the files were checked above: anything left is still unreadable
        raise DatasetError(_paragraph(
            f"torchvision could not read the MNIST {'training' if train else 'test'} files under "
            f"{root / 'MNIST' / 'raw'} ({type(exc).__name__}: {exc}).", layout,
            "Delete them and pass dataset.download=true to fetch a fresh copy.")) from exc
    if labels.numel() and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(_paragraph(
            f"MNIST labels under {root / 'MNIST' / 'raw'} fall outside 0..9.", layout))
    return images, labels


def check_mnist_files(root: str | os.PathLike) -> None:
    """Raise DatasetError unless the four MNIST files are under ``<root>/MNIST/raw`` with intact
    IDX headers and sizes: a check of a few bytes each, which the command runs before it makes
    a run dir (glorot_repro/command/callbacks.py)."""
    root = Path(root).expanduser()
    raw = root / "MNIST" / "raw"
    layout = _mnist_layout(raw)
    if not root.is_dir():
        raise DatasetError(_paragraph(
            f"MNIST root folder {root} does not exist.", layout,
            "Pass dataset.download=true to download them, or point the dataset root at the "
            "folder that holds MNIST/raw."))
    missing = [name for name in _MNIST_FILES if not (raw / name).is_file()]
    if missing:
        raise DatasetError(_paragraph(
            f"MNIST file(s) missing: {', '.join(str(raw / m) for m in missing)}.", layout,
            "Pass dataset.download=true to download them (torchvision's mirrors), or copy the "
            "gunzipped files from http://yann.lecun.com/exdb/mnist/ there."))
    counts = {name: _check_idx(raw / name, magic, shape, layout)
              for name, (magic, shape) in _MNIST_FILES.items()}
    for part in ("train", "t10k"):
        n_img, n_lab = counts[f"{part}-images-idx3-ubyte"], counts[f"{part}-labels-idx1-ubyte"]
        if n_img != n_lab:
            raise DatasetError(_paragraph(
                f"MNIST {part} files in {raw} disagree: {n_img} images but {n_lab} labels.",
                layout, "Delete them and pass dataset.download=true to fetch a fresh copy."))


def load_mnist(root: str | os.PathLike, download: bool = False, split_seed: int = 0) -> Splits:
    """MNIST as in docs/paper.md §1: 50k train / 10k valid / 10k test, 784 inputs in [0, 1].

    The 10k validation images are drawn from the 60k official training file by a permutation
    seeded with ``split_seed``; the other 50k are the training set. The test set is the official
    10k ``t10k`` file, in its original order. A training file holding fewer than 60k images
    (a reduced copy) gives a proportionally smaller validation set (one sixth).

    ``download=True`` lets torchvision fetch the files into ``<root>/MNIST/raw`` if missing;
    otherwise nothing is downloaded and a missing file raises :class:`DatasetError`.
    """
    root = Path(root).expanduser()
    raw = root / "MNIST" / "raw"
    layout = _mnist_layout(raw)
    if download:
        from torchvision.datasets import MNIST

        try:
            for train in (True, False):
                MNIST(str(root), train=train, download=True)
        except Exception as exc:
            raise DatasetError(_paragraph(
                f"Downloading MNIST into {raw} failed ({type(exc).__name__}: {exc}).", layout,
                "Check the network, or copy the four files there by hand.")) from exc

    check_mnist_files(root)

    train_images, train_labels = _mnist_part(root, True, layout)
    test_images, test_labels = _mnist_part(root, False, layout)
    n_valid = scaled_count(len(train_images), MNIST_VALID_SIZE, MNIST_TRAIN_FILE_SIZE)
    valid_idx, train_idx = seeded_split(len(train_images), n_valid, split_seed)
    return Splits(
        train_x=_to_unit_float(train_images[train_idx]), train_y=train_labels[train_idx],
        valid_x=_to_unit_float(train_images[valid_idx]), valid_y=train_labels[valid_idx],
        test_x=_to_unit_float(test_images), test_y=test_labels,
    )


# ----------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------
# The batches are pickles: unpickling can run arbitrary code, so only the numpy constructors a
# CIFAR batch needs (an ndarray, possibly numpy integer scalars) are let through. A pickle that
# references anything else is, by definition, not a CIFAR batch.
_ALLOWED_PICKLE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # numpy arrays pickled by Python 3 at protocol 2
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _cifar_layout(folder: Path) -> str:
    return (f"CIFAR-10 is expected as torchvision lays it out: the python-pickle batches "
            f"{', '.join(CIFAR_TRAIN_BATCHES)}, {CIFAR_TEST_BATCH} and {CIFAR_META} in {folder} "
            f"(each batch a dict with b'data', a uint8 array (N, 3072), and b'labels', N ints).")


def _read_pickle(path: Path, layout: str) -> dict[str, Any]:
    """A CIFAR pickle as a dict with str keys (Python 2 files give bytes keys, ours may give str)."""
    hint = "Delete the folder and pass dataset.download=true to fetch a fresh copy."
    try:
        with open(path, "rb") as f:
            # encoding="bytes" is what the CIFAR web page documents for the Python 2 pickles.
            obj = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as exc:  # EOF, bad opcode, forbidden global, ...
        raise DatasetError(_paragraph(
            f"{path} is not a readable CIFAR-10 pickle ({type(exc).__name__}: {exc}).",
            layout, hint)) from exc
    if not isinstance(obj, dict):
        raise DatasetError(_paragraph(
            f"{path} holds a {type(obj).__name__}, not the dict of a CIFAR-10 pickle.", layout, hint))
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _read_cifar_batch(path: Path, n_classes: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    hint = "Delete the folder and pass dataset.download=true to fetch a fresh copy."
    batch = _read_pickle(path, layout)
    if "data" not in batch or "labels" not in batch:
        raise DatasetError(_paragraph(
            f"{path} is not a CIFAR-10 batch: its keys are {sorted(map(str, batch))}, expected "
            f"b'data' and b'labels'.", layout, hint))
    data, labels = batch["data"], batch["labels"]
    try:
        labels = np.asarray(labels)
    except Exception:  # ragged or odd objects
        labels = None
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
            or data.shape[1] != 3 * 32 * 32 or labels is None or labels.ndim != 1
            or not np.issubdtype(labels.dtype, np.integer) or len(labels) != len(data)):
        raise DatasetError(_paragraph(
            f"{path} is not a CIFAR-10 batch: b'data' must be a uint8 array of shape (N, 3072) "
            f"and b'labels' N integers (found data "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}, "
            f"labels {getattr(labels, 'dtype', None)} {getattr(labels, 'shape', '')}).",
            layout, hint))
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(_paragraph(
            f"{path} has labels outside 0..{n_classes - 1}.", layout, hint))
    return data, labels.astype(np.int64)


def check_cifar10_files(root: str | os.PathLike) -> None:
    """Raise DatasetError unless every CIFAR-10 batch file is in ``<root>/cifar-10-batches-py``
    (their contents are checked as they are read)."""
    folder = Path(root).expanduser() / CIFAR_DIR
    layout = _cifar_layout(folder)
    get_it = ("Pass dataset.download=true to download it, or extract cifar-10-python.tar.gz from "
              "https://www.cs.toronto.edu/~kriz/cifar.html into the dataset root.")
    if not folder.is_dir():
        raise DatasetError(_paragraph(f"CIFAR-10 folder {folder} does not exist.", layout, get_it))
    names = (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META)
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DatasetError(_paragraph(
            f"CIFAR-10 file(s) missing: {', '.join(str(folder / m) for m in missing)}.",
            layout, get_it))


def load_cifar10(root: str | os.PathLike, download: bool = False, split_seed: int = 0) -> Splits:
    """CIFAR-10 as in docs/paper.md §1: 40k train / 10k valid / 10k test, 3072 inputs in [0, 1].

    The 10k validation images are drawn from the 50k official training images (the five
    ``data_batch_*`` files, concatenated in order) by a permutation seeded with ``split_seed``;
    the other 40k are the training set; the test set is the official ``test_batch`` in order.
    Each image is flattened in the files' own (C, H, W) order (1024 red, 1024 green, 1024 blue
    values, each plane row-major) and divided by 255. A tree with fewer than 50k training images
    gets ``min(10000, N // 5)`` validation images.

    The pickles are read here rather than through ``torchvision.datasets.CIFAR10``, which insists
    on the official md5 sums and so would refuse reduced trees. ``download=True`` lets torchvision
    fetch and extract the official archive into ``<root>/cifar-10-batches-py`` first.
    """
    root = Path(root).expanduser()
    folder = root / CIFAR_DIR
    layout = _cifar_layout(folder)
    if download:
        from torchvision.datasets import CIFAR10

        try:
            CIFAR10(str(root), train=True, download=True)  # one archive holds all batches
        except Exception as exc:
            raise DatasetError(_paragraph(
                f"Downloading CIFAR-10 into {folder} failed ({type(exc).__name__}: {exc}).", layout,
                "Check the network, or extract cifar-10-python.tar.gz from "
                "https://www.cs.toronto.edu/~kriz/cifar.html into the root yourself.")) from exc

    check_cifar10_files(root)

    meta = _read_pickle(folder / CIFAR_META, layout)
    label_names = meta.get("label_names")
    if not isinstance(label_names, (list, tuple)) or len(label_names) != 10:
        raise DatasetError(_paragraph(
            f"{folder / CIFAR_META} is not CIFAR-10's metadata: expected b'label_names', a list "
            f"of 10 class names.", layout,
            "Delete the folder and pass dataset.download=true to fetch a fresh copy."))

    train = [_read_cifar_batch(folder / name, len(label_names), layout) for name in CIFAR_TRAIN_BATCHES]
    train_images = torch.from_numpy(np.concatenate([d for d, _ in train]))
    train_labels = torch.from_numpy(np.concatenate([y for _, y in train]))
    test_data, test_y = _read_cifar_batch(folder / CIFAR_TEST_BATCH, len(label_names), layout)
    n_valid = scaled_count(len(train_images), CIFAR_VALID_SIZE, CIFAR_TRAIN_FILE_SIZE)
    valid_idx, train_idx = seeded_split(len(train_images), n_valid, split_seed)
    return Splits(
        train_x=_to_unit_float(train_images[train_idx]), train_y=train_labels[train_idx],
        valid_x=_to_unit_float(train_images[valid_idx]), valid_y=train_labels[valid_idx],
        test_x=_to_unit_float(torch.from_numpy(test_data)), test_y=torch.from_numpy(test_y),
    )


# ----------------------------------------------------------------------------------------------
# Small-ImageNet
# ----------------------------------------------------------------------------------------------
def _imagenet_layout(folder: Path) -> str:
    return (f"Small-ImageNet is expected as an ImageFolder tree {folder}/<class_name>/<image> "
            f"(one sub-folder per class, class indices from the sorted folder names, images with "
            f"extensions {', '.join(_image_extensions())}). The paper's set (10 balanced classes: "
            f"reptiles, vehicles, birds, mammals, fish, furniture, instruments, tools, flowers, "
            f"fruits) is not public and cannot be downloaded: build it from your own ImageNet copy.")


def _image_extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return tuple(IMG_EXTENSIONS)


def check_small_imagenet_files(root: str | os.PathLike) -> None:
    """Raise DatasetError unless ``<root>/small_imagenet`` holds class sub-folders (their images
    are checked as they are read)."""
    folder = Path(root).expanduser() / IMAGENET_DIR
    _image_classes(folder, _imagenet_layout(folder))


def _image_classes(folder: Path, layout: str) -> list[str]:
    """The sorted class sub-folders of an ImageFolder tree, or DatasetError if it has none."""
    if not folder.is_dir():
        raise DatasetError(_paragraph(f"Small-ImageNet folder {folder} does not exist.", layout))
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not classes:
        raise DatasetError(_paragraph(
            f"Small-ImageNet folder {folder} holds no class sub-folders.", layout))
    return classes


def _scan_image_folder(folder: Path, layout: str) -> tuple[list[str], list[tuple[str, int, int]]]:
    """Class names and (relative path, size in bytes, class index) of every image, in a fixed order.

    Follows torchvision's ImageFolder rules (sorted class folders, recursive walk, extension
    filter, empty class folder is an error) without building its sample list twice. File sizes
    go into the cache key so that a replaced image also invalidates the cache.
    """
    classes = _image_classes(folder, layout)
    extensions = _image_extensions()
    files: list[tuple[str, int, int]] = []
    empty = []
    for index, name in enumerate(classes):
        n_before = len(files)
        for dirpath, dirnames, filenames in os.walk(folder / name, followlinks=True):
            dirnames.sort()
            for filename in sorted(filenames):
                if filename.lower().endswith(extensions):
                    path = Path(dirpath) / filename
                    files.append((path.relative_to(folder).as_posix(), path.stat().st_size, index))
        if len(files) == n_before:
            empty.append(name)
    if empty:
        raise DatasetError(_paragraph(
            f"Small-ImageNet class folder(s) without any image: "
            f"{', '.join(str(folder / e) for e in empty)}.", layout))
    return classes, files


def _decode_image(path: str) -> np.ndarray:
    """One image file -> uint8 (37, 37) grey, as the paper's Small-ImageNet inputs (docs/paper.md §1).

    Grey via PIL's 'L' conversion (ITU-R 601 luma), then a bilinear resize, which PIL antialiases
    when shrinking. For JPEGs, ``draft`` first lets libjpeg decode at a reduced scale (never below
    twice the target size), which makes decoding ImageNet-sized files several times faster.
    """
    from PIL import Image

    with Image.open(path) as img:
        img.draft("L", (2 * IMAGENET_SIDE, 2 * IMAGENET_SIDE))
        grey = img.convert("L")
    grey = grey.resize((IMAGENET_SIDE, IMAGENET_SIDE), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.uint8)


def _decode_all(folder: Path, files: list[tuple[str, int, int]], layout: str) -> torch.Tensor:
    def decode(rel: str) -> np.ndarray:
        try:
            return _decode_image(str(folder / rel))
        except Exception as exc:
            raise DatasetError(_paragraph(
                f"Cannot decode Small-ImageNet image {folder / rel} ({type(exc).__name__}: {exc}).",
                layout, "Remove or replace the file.")) from exc

    log.info("decoding %d Small-ImageNet images under %s (cached afterwards)", len(files), folder)
    out = np.empty((len(files), IMAGENET_SIDE, IMAGENET_SIDE), dtype=np.uint8)
    # PIL releases the GIL while decoding and resizing, so threads use all cores.
    pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
    try:
        for i, image in enumerate(pool.map(decode, [rel for rel, _, _ in files])):
            out[i] = image
    except BaseException:
        # Fail at the first bad file instead of decoding the ~100k queued ones first.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return torch.from_numpy(out)


def _load_cached(cache: Path, classes: list[str], files: list[tuple[str, int, int]]):
    """The cached images if the cache matches the current tree, else None (then it is rebuilt)."""
    if not cache.is_file():
        return None
    try:
        saved = torch.load(cache, map_location="cpu", weights_only=True)
        if (saved.get("version") == _IMAGENET_CACHE_VERSION and saved["classes"] == classes
                and saved["files"] == [rel for rel, _, _ in files]
                and saved["sizes"] == [size for _, size, _ in files]
                and saved["images"].shape == (len(files), IMAGENET_SIDE, IMAGENET_SIDE)
                and saved["images"].dtype == torch.uint8):
            return saved["images"]
    except Exception as exc:  # unreadable cache: decode again rather than fail
        warnings.warn(f"ignoring unreadable Small-ImageNet cache {cache} ({exc}); rebuilding it")
    return None


def _save_cache(cache: Path, classes: list[str], files: list[tuple[str, int, int]],
                images: torch.Tensor) -> None:
    payload = {
        "version": _IMAGENET_CACHE_VERSION,
        "classes": classes,
        "files": [rel for rel, _, _ in files],
        "sizes": [size for _, size, _ in files],
        "images": images,
    }
    # Write then rename, so an interrupted run never leaves a half-written cache behind.
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, cache)
    except OSError as exc:  # read-only dataset folder: still usable, just slower next time
        tmp.unlink(missing_ok=True)
        warnings.warn(f"could not write the Small-ImageNet cache {cache} ({exc})")


def load_small_imagenet(root: str | os.PathLike, split_seed: int = 0, n_valid: int = 10_000,
                        n_test: int = 10_000) -> Splits:
    """Small-ImageNet as in docs/paper.md §1: 90k train / 10k valid / 10k test, 37x37 grey = 1369 inputs.

    Reads the ImageFolder tree ``<root>/small_imagenet/<class_name>/*`` (class indices from the
    sorted folder names). Each image is converted to grey, resized to 37x37 (bilinear,
    antialiased) and divided by 255. All images are shuffled by a permutation seeded with
    ``split_seed``: the first ``n_test`` form the test set, the next ``n_valid`` the validation
    set, the rest the training set.

    Scaling down: the split sizes assume the paper's 90k training images on top of
    ``n_valid + n_test``. A tree with fewer images, N, gets proportionally smaller valid and test
    sets, ``n_valid * N // (n_valid + n_test + 90000)`` and likewise for test (with the defaults,
    10/110 of the images each), but at least one image each.

    Decoding ~110k JPEGs takes minutes, so the decoded uint8 images are cached in
    ``<root>/small_imagenet_37x37.pt`` together with the class names, file list and file sizes;
    the cache is rebuilt whenever any of those change. There is no download: the paper's set is
    not public.
    """
    root = Path(root).expanduser()
    folder = root / IMAGENET_DIR
    layout = _imagenet_layout(folder)
    classes, files = _scan_image_folder(folder, layout)
    n = len(files)
    if n < 3:
        raise DatasetError(_paragraph(
            f"Small-ImageNet folder {folder} holds only {n} image(s): at least 3 are needed for a "
            f"train / valid / test split.", layout))

    cache = root / IMAGENET_CACHE
    images = _load_cached(cache, classes, files)
    if images is None:
        images = _decode_all(folder, files, layout)
        _save_cache(cache, classes, files, images)
    labels = torch.tensor([index for _, _, index in files], dtype=torch.int64)

    paper_total = n_valid + n_test + IMAGENET_TRAIN_SIZE
    n_v = max(1, scaled_count(n, n_valid, paper_total)) if n_valid > 0 else 0
    n_t = max(1, scaled_count(n, n_test, paper_total)) if n_test > 0 else 0
    held, train_idx = seeded_split(n, n_t + n_v, split_seed)
    test_idx, valid_idx = held[:n_t], held[n_t:]
    return Splits(
        train_x=_to_unit_float(images[train_idx]), train_y=labels[train_idx],
        valid_x=_to_unit_float(images[valid_idx]), valid_y=labels[valid_idx],
        test_x=_to_unit_float(images[test_idx]), test_y=labels[test_idx],
    )
