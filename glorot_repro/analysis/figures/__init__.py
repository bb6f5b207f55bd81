"""One function per paper artefact: a tidy table in (glorot_repro.analysis.collect), a matplotlib figure
out. Fixed colours per layer and per activation, so figures compare across runs."""
