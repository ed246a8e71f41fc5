"""Logging our own failures without what they happened during."""

from __future__ import annotations

import sys


def own_error_alone() -> None:
    """Keep the exception being handled from printing the one it happened during.

    Our code fails while ending a call, and a failed call ends inside the SDK's
    ``except``: a traceback would chain the SDK's exception, whose message quotes
    what the provider sent back (an API key, in an authentication error). Only our
    failure is ours to log.
    """
    error = sys.exc_info()[1]
    if error is not None:
        error.__suppress_context__ = True
