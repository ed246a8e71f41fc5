"""semconv/check.py and semconv/generate.py, loaded by path for the tests (semconv/ is no package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SEMCONV_DIR = Path(__file__).resolve().parent.parent / "semconv"


def load(name: str, path: Path) -> ModuleType:
    """The module at ``path`` under ``name``, loaded once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Same module names as generate.py uses, so both share one copy of the checker.
check = load("_tokenomics_semconv_check", SEMCONV_DIR / "check.py")
generate = load("_tokenomics_semconv_generate", SEMCONV_DIR / "generate.py")
