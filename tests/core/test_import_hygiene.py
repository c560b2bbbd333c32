"""core/ must stay UI-free: importing every core module pulls in no textual, typer, rich or tui."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
UI_PACKAGES = ("textual", "typer", "rich", "tui")


def test_importing_every_core_module_loads_no_ui_package():
    modules = sorted(
        ".".join(path.relative_to(CORE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in CORE.rglob("*.py")
    )
    assert "core.training.engine" in modules and "core.data.synthetic" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({UI_PACKAGES!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=CORE.parent,
                            check=True)
    assert result.stdout.strip() == "[]"
