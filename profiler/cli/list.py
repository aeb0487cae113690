"""`profiler list`: the names it can profile."""
from __future__ import annotations


def register(sub) -> None:
    sub.add_parser("list", help="list the models it can profile by name (hf: and timm: ones when "
                               "transformers and timm are installed)").set_defaults(run=run)


def run(args) -> int:
    # read from the packages' sources: no torch import (see models.all_names_without_torch, profiler.models.hf.names)
    from profiler.models.names import all_names_without_torch, hub_names_without_torch
    print("\n".join(all_names_without_torch() + hub_names_without_torch()))
    return 0
