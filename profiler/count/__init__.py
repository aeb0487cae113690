"""Count: the captured calls joined with the formulas, forward and backward, into report rows."""
