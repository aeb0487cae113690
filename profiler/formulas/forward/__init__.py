"""Forward formulas, one file per layer kind: the kind's pure cost functions, each
stating its convention, and their ``module_formula`` / ``aten_formula``
registrations.  The backward of a kind is in ``backward/<kind>.py``, the same name."""
