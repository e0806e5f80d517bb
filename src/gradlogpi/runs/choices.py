"""The message for a name that is not one of the registered choices: the choices, and the
closest one where the name looks like a misspelling of it."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


def listed(names: Sequence[str], *, quote: bool = True) -> str:
    """Names in words: "'a', 'b' or 'c'" (without the quotes: "a, b or c")."""
    quoted = [repr(name) if quote else name for name in names]
    if len(quoted) < 2:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


def did_you_mean(name: object, names: Sequence[str]) -> str:
    """ "; did you mean 'x'?" where `name` is close to one of `names` (difflib), else ""."""
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def one_of(name: object, names: Sequence[str]) -> str:
    """ "expected one of 'a', 'b' or 'c'", with a suggestion where `name` is close to one."""
    return f"expected one of {listed(names)}{did_you_mean(name, names)}"
