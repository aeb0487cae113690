"""Forward formulas, one file per layer kind."""
