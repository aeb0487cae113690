"""The hf: tests' shared fixture: tiny models built once per module (tests/hf_tiny.py)."""
import pytest

from hf_tiny import builder


@pytest.fixture(scope="module")
def built():
    """arch -> (spec, meta model, real model, seconds of the meta build)."""
    return builder()
