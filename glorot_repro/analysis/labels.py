"""The paper's names for runs: a row of Table 1 and a curve of Figs. 11-12 ('Tanh N')."""
from __future__ import annotations

ACTIVATION_NAMES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "softsign": "Softsign",
                    "relu": "ReLU", "softplus": "Softplus"}
INIT_SUFFIXES = {"standard": "", "normalized": " N", "he": " He", "lecun": " LeCun",
                 "orthogonal": " Orth"}
PRETRAIN_SUFFIXES = {"none": "", "dae": " + DAE"}
# Table 1's column names (ImageNet: the paper's Small-ImageNet).
DATASET_NAMES = {"shapeset": "Shapeset", "mnist": "MNIST", "cifar10": "CIFAR-10",
                 "small_imagenet": "ImageNet"}
# Shapeset's pixel ranges by dataset.signed_pixels.
PIXEL_RANGES = {False: "[0,1]", True: "[-1,1]"}
# A row of Table 1 and a curve of Figs. 11-12: what a run's name in the paper depends on.
ROW_KEYS = ["activation", "init", "pretrain"]


def curve_label(activation: str, init: str, pretrain: str = "none") -> str:
    """The paper's legend names, 'Tanh' for standard init and 'Tanh N' for normalized, extended
    to the inits and pre-training beyond the paper ('ReLU He', 'Tanh N + DAE')."""
    return ACTIVATION_NAMES[activation] + INIT_SUFFIXES[init] + PRETRAIN_SUFFIXES[pretrain]
