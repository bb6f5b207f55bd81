"""One entry point from a dataset config to what training needs: a train stream and fixed
validation and test sets, all on the training device."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

import torch

from glorot_repro.config import DatasetConf
from glorot_repro.data.splits import Splits
from glorot_repro.data.streams import SHAPESET_CHUNK, ShapesetStream, TensorStream, to_inputs
from glorot_repro.errors import ConfigError, DatasetError

Stream = Union[ShapesetStream, TensorStream]


@dataclass
class StudyData:
    new_stream: Callable[[int], Stream]  # seed -> a training stream
    valid: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    n_inputs: int
    n_classes: int


def load_splits(dc: DatasetConf) -> Splits:
    """The in-memory real datasets (paper Sec. 2.2), read from dc.root."""
    from glorot_repro.data import vision

    root = Path(dc.root).expanduser()
    if dc.name == "mnist":
        return vision.load_mnist(root, download=dc.download, split_seed=dc.split_seed)
    if dc.name == "cifar10":
        return vision.load_cifar10(root, download=dc.download, split_seed=dc.split_seed)
    if dc.name == "small_imagenet":
        return vision.load_small_imagenet(root, split_seed=dc.split_seed)
    raise ValueError(f"not an in-memory dataset: {dc.name!r}")


def check_files(dc: DatasetConf) -> None:
    """Raise DatasetError if the real dataset's files are not under dc.root: cheap checks (a
    file's presence, an IDX header) that the command runs before it makes a run dir. Nothing to
    check for Shapeset (generated) or with dataset.download=true (the loader fetches them)."""
    from glorot_repro.data import vision

    if dc.name == "shapeset" or dc.get("download", False):
        return
    check = {"mnist": vision.check_mnist_files, "cifar10": vision.check_cifar10_files,
             "small_imagenet": vision.check_small_imagenet_files}[dc.name]
    check(Path(dc.root).expanduser())


def build_data(dc: DatasetConf, device: torch.device, batch_size: int) -> StudyData:
    """dc is the `dataset` config node. Training streams are made per seed (one per model) and
    serve minibatches of `batch_size`."""
    if dc.name == "shapeset":
        from glorot_repro.data.shapeset import shapeset_splits

        valid, test = shapeset_splits(dc.n_valid, dc.n_test, dc.valid_seed, dc.test_seed,
                                      device=device)
        fixed = [(to_inputs(x, dc.signed_pixels), y) for x, y in (valid, test)]
        # An online stream has no size limit: its chunks just grow to hold a whole minibatch.
        chunk = max(SHAPESET_CHUNK, batch_size)
        return StudyData(lambda seed: ShapesetStream(seed, device, dc.signed_pixels, chunk),
                         fixed[0], fixed[1], n_inputs=32 * 32, n_classes=9)
    s = load_splits(dc)
    if batch_size > len(s.train_y):
        raise ConfigError(f"train.batch_size={batch_size} is larger than the {dc.name} training "
                          f"set ({len(s.train_y)} examples under {dc.root}); use at most "
                          f"{len(s.train_y)}")
    s = s.to(device)
    signed = dc.signed_pixels
    train_x = to_inputs(s.train_x, signed)
    return StudyData(lambda seed: TensorStream(train_x, s.train_y, seed),
                     (to_inputs(s.valid_x, signed), s.valid_y),
                     (to_inputs(s.test_x, signed), s.test_y),
                     n_inputs=s.n_inputs, n_classes=s.n_classes)


__all__ = ["DatasetError", "Splits", "StudyData", "build_data", "check_files", "load_splits"]
