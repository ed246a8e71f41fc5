"""What every check returns: findings, their severities and doctor's exit codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass

PROBLEM = "problem"
WARNING = "warning"
EXIT_OK = 0
EXIT_PROBLEM = 1


@dataclass(frozen=True)
class Finding:
    """One thing wrong (``problem``: exit 1) or worth a look (``warning``), and how to fix it."""

    severity: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
