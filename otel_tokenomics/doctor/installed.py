"""A snapshot of what is installed, read from package metadata without importing any package."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

OURS = "otel-tokenomics"


def canonical(name: str) -> str:
    """A distribution name as pip compares them (``Google_GenAI`` is ``google-genai``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Installed:
    """Distribution versions, entry points and requirements, as package metadata lists them."""

    versions: Mapping[str, str] = field(default_factory=dict)
    # group -> entry point name -> distribution
    entry_points: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # distribution -> its Requires-Dist lines (only those with instrumentor entry points)
    requires: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls) -> Installed:
        """This environment's snapshot: metadata files only, no package is imported."""
        from importlib.metadata import distributions

        versions: dict[str, str] = {}
        groups: dict[str, dict[str, str]] = {}
        requires: dict[str, list[str]] = {}
        for dist in distributions():
            name = dist.metadata["Name"]
            if not name:
                continue
            key = canonical(name)
            if key in versions:  # the first on sys.path wins, as for imports
                continue
            versions[key] = dist.version
            for entry_point in dist.entry_points:
                if entry_point.group.startswith("opentelemetry_"):
                    groups.setdefault(entry_point.group, {}).setdefault(entry_point.name, key)
                    if entry_point.group == "opentelemetry_instrumentor":
                        requires[key] = list(dist.requires or ())
        return cls(versions, groups, requires)

    def version(self, name: str) -> str | None:
        return self.versions.get(canonical(name))

    def group(self, name: str) -> Mapping[str, str]:
        return self.entry_points.get(name, {})


def in_range(version: str, specifier: str) -> bool | None:
    """Whether ``version`` satisfies ``specifier``; None when either cannot be parsed."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(specifier).contains(Version(version), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return None


def instruments_any(installed: Installed) -> dict[str, str]:
    """Our ``instruments-any`` requirements: distribution -> specifier (empty if we are not installed)."""
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, str] = {}
    for line in installed.requires.get(OURS, ()):
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "instruments-any"}):
            found[canonical(requirement.name)] = str(requirement.specifier)
    return found
