"""What importing a module costs: the report can be read without torch."""
from __future__ import annotations

import subprocess
import sys


def test_importing_the_report_imports_neither_torch_nor_pandas():
    code = ("import sys, profiler.report, profiler.columns; "
            "print(sorted(m for m in ('torch', 'torchvision', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
