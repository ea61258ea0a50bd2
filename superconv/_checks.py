"""Argument checks, one copy for the whole package.

Every public function and every chapter parameter is checked before any work starts, and a bad
value fails with one line that names the parameter, shows the value and says what is allowed::

    ParameterError: weight_decay=-1 is not allowed; allowed: a finite number >= 0

Each checker takes ``(name, value)`` (so the same function checks a keyword argument, a notebook
parameter or a CLI flag) and returns the value, normalised where that is safe (a NumPy integer
becomes an ``int``, an ``int`` LR a ``float``). ``bool`` is never a number here: ``depth=True`` is
a bug, not a request for depth 1.
"""

from __future__ import annotations

import ast
import math
import numbers
from typing import Any, Callable, NoReturn, Sequence

__all__ = ["ParameterError", "fail", "integer", "positive_int", "real", "positive", "non_negative",
           "fraction", "boolean", "choice", "list_of", "distinct", "optional", "depth"]


class ParameterError(ValueError):
    """A parameter with a value that is not allowed (raised before any work)."""


#: How the hint on a list or dict given as text begins.
TEXT_HINT = " (this is text"


def _literal(text: str) -> Any:
    """The Python literal ``text`` spells, or None."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def fail(name: str, value: Any, allowed: str, why: str = "is not allowed") -> NoReturn:
    """Raise the one-line error every check uses: ``name=value <why>; allowed: <allowed>``.

    A list or dict that arrives as text (``papermill -p SEEDS "[0, 1]"`` passes a string) gets a
    hint on how to pass it as a value."""
    hint = ""
    parsed = _literal(value) if isinstance(value, str) else None
    if isinstance(parsed, (list, tuple, dict)):
        hint = (f"{TEXT_HINT}, not a {'dict' if isinstance(parsed, dict) else 'list'}: with papermill pass it "
                f"as YAML, -y '{name.split('[')[0]}: {list(parsed) if isinstance(parsed, tuple) else parsed!r}'; "
                "-p passes text)")
    raise ParameterError(f"{name}={value!r} {why}; allowed: {allowed}{hint}")


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral)


def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (NumPy's too) within ``[minimum, maximum]`` (None: unbounded)."""
    if not _is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        lo = "" if minimum is None else f" >= {minimum}"
        hi = "" if maximum is None else f"{' and' if lo else ''} <= {maximum}"
        fail(name, value, f"an integer{lo}{hi}")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    return integer(name, value, minimum=1)


def real(name: str, value: Any, allowed: str = "a finite number",
         ok: Callable[[float], bool] = lambda v: True) -> float:
    """A finite real number for which ``ok`` holds; ``allowed`` says in words what that is."""
    if not _is_real(value) or not ok(value):
        fail(name, value, allowed)
    return float(value)


def positive(name: str, value: Any) -> float:
    return real(name, value, "a finite number > 0", lambda v: v > 0)


def non_negative(name: str, value: Any) -> float:
    return real(name, value, "a finite number >= 0", lambda v: v >= 0)


def fraction(name: str, value: Any) -> float:
    return real(name, value, "a number in [0, 1)", lambda v: 0 <= v < 1)


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        fail(name, value, "True, False")
    return value


def choice(name: str, value: Any, allowed: Sequence[Any], what: str | None = None) -> Any:
    """``value`` if it is one of ``allowed`` (compared by equality, so str choices stay strs);
    ``what`` names the kind of value in the message (``"is not a CLR mode"``)."""
    try:
        ok = value in allowed and not (isinstance(value, bool) and not any(a is value for a in allowed))
    except TypeError:  # an unhashable value in a set of choices
        ok = False
    if not ok:
        fail(name, value, ", ".join(map(repr, allowed)), why=f"is not {what}" if what else "is not allowed")
    return value


def list_of(check: Callable[[str, Any], Any], min_len: int = 1,
            unique: bool = False) -> Callable[[str, Any], list]:
    """A checker of lists (or tuples) whose every item passes ``check``; ``unique``: no repeats."""
    def check_list(name: str, value: Any) -> list:
        if not isinstance(value, (list, tuple)) or len(value) < min_len:
            fail(name, value, f"a list of at least {min_len} value(s)")
        items = [check(f"{name}[{i}]", v) for i, v in enumerate(value)]
        if unique:
            distinct(name, items)
        return items
    return check_list


def distinct(name: str, values: Sequence[Any]) -> list:
    """``values`` as a list, if no value repeats."""
    values = list(values)
    seen: list = []
    for v in values:
        if v in seen:
            fail(name, values, "distinct values", why=f"repeats {v!r}")
        seen.append(v)
    return values


def optional(check: Callable[[str, Any], Any], name: str, value: Any, allowed: str) -> Any:
    """``None``, or ``value`` if it passes ``check``; else one line that offers both."""
    if value is None:
        return None
    try:
        return check(name, value)
    except ParameterError:
        pass  # raised below, outside the handler: one line, no chained traceback
    fail(name, value, f"None or {allowed}")


def depth(value: Any, step: int = 6, offset: int = 2, examples: str = "8, 14, 20, 32, 44, 56, 110") -> int:
    """A network depth ``step*n + offset`` with n >= 1 layers (or blocks) per stage, or a
    one-line error naming ``depth`` and the allowed depths."""
    allowed = f"{examples}, ... ({step}n+{offset} with n >= 1)"
    if isinstance(value, bool) or not isinstance(value, int):
        fail("depth", value, allowed, why="is not an int")
    if value < step + offset or (value - offset) % step != 0:
        fail("depth", value, allowed, why=f"is not {step}n+{offset}")
    return value
