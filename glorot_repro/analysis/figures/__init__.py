"""One function per paper artefact: a tidy table in (glorot_repro.analysis.collect), a matplotlib
figure out. Fixed colours per layer (style.layer_color) and line styles per init, so figures
compare across runs."""
