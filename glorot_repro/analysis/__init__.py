"""The analysis side: from run dirs to the paper's artefacts. collect (event files -> tidy tables),
table (Table 1), claims (the paper's claims as code), paper (its numbers and curve readings),
labels (the paper's names for runs), explorer and surfaces (the nets at initialisation), and
figures (one function per figure). Nothing here trains; training never imports it."""
