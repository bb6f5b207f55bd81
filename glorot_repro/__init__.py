"""glorot-repro: Glorot & Bengio (2010) reproduced in PyTorch. `from glorot_repro import watch`
for the per-layer statistics on any model (measure/hooks.py); `python -m glorot_repro.train` for
the study's runs. The package's top imports nothing heavy: the command's start needs none of it."""


def __getattr__(name: str):
    if name == "watch":
        from glorot_repro.measure.hooks import watch

        return watch
    raise AttributeError(f"module 'glorot_repro' has no attribute {name!r}")
