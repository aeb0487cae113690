"""Backward formulas, one file per layer kind."""
