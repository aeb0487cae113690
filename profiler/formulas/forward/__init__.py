"""Forward formulas, one file per group: the group's pure cost functions, each
stating its convention, and their ``module_formula`` / ``aten_formula``
registrations.  The backward of a group is in ``backward/<group>.py``, the same name."""
