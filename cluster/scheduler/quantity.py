"""Kubernetes resource quantities, parsed exactly as apimachinery's ``resource.ParseQuantity``.

A quantity is held as an integer number of nano-units: upstream rounds every parsed
quantity up (away from zero) to nano precision, so this representation loses nothing.
``milli_value`` and ``value`` then round up again, like ``Quantity.MilliValue()`` and
``Quantity.Value()``, which is what the scheduler converts requests and capacities with.
"""

from __future__ import annotations

from functools import lru_cache

NANO = 10**9
"""Nano-units per unit."""

_MAX_INT64 = 2**63 - 1

_DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")


class QuantityError(ValueError):
    """Raised for a string that is not a Kubernetes quantity."""


def _ceil_div(numerator: int, denominator: int) -> int:
    """Integer ceiling of numerator/denominator (denominator > 0)."""
    return -((-numerator) // denominator)


def _round_away(numerator: int, denominator: int) -> int:
    """Round numerator/denominator away from zero (inf.RoundUp), denominator > 0."""
    if numerator >= 0:
        return _ceil_div(numerator, denominator)
    return -_ceil_div(-numerator, denominator)


def _split(text: str) -> tuple[bool, str, str, str]:
    """Split like upstream ``parseQuantityString``: sign, integer digits, fraction digits, suffix."""
    positive = True
    pos = 0
    end = len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos]
    denom = ""
    if pos < end and text[pos] == ".":
        pos += 1
        dstart = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[dstart:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos != end:
        raise QuantityError(
            f"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}"
        )
    return positive, num or "0", denom, text[suffix_start:end]


@lru_cache(maxsize=65536)
def _parse_string(text: str) -> int:
    if not text:
        raise QuantityError(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': ''"
        )
    positive, num, denom, suffix = _split(text)
    binary = False
    if suffix in _DECIMAL_SUFFIXES:
        base, exponent = 10, _DECIMAL_SUFFIXES[suffix]
    elif suffix in _BINARY_SUFFIXES:
        base, exponent, binary = 2, _BINARY_SUFFIXES[suffix], True
    elif len(suffix) > 1 and suffix[0] in "eE":
        try:
            exponent = int(suffix[1:])
        except ValueError as exc:
            raise QuantityError(f"unable to parse quantity's suffix: {text!r}") from exc
        base = 10
    else:
        raise QuantityError(f"unable to parse quantity's suffix: {text!r}")

    numerator = int(num + denom)
    denominator = 10 ** len(denom)
    if base == 10:
        if exponent >= 0:
            numerator *= 10**exponent
        else:
            denominator *= 10 ** (-exponent)
    else:
        numerator <<= exponent
    nanos = _round_away(numerator * NANO, denominator)
    if binary and nanos > _MAX_INT64 * NANO:
        nanos = _MAX_INT64 * NANO
    return nanos if positive else -nanos


def parse_quantity(value: str | int | float) -> int:
    """Parse a quantity (``"100m"``, ``"1.5"``, ``"128Mi"``, ``"1e3"``) into nano-units.

    Integers and floats (as a JSON number might arrive) are accepted too.
    """
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return value * NANO
    if isinstance(value, float):
        return _parse_string(repr(value))
    if not isinstance(value, str):
        raise QuantityError(f"not a quantity: {value!r}")
    return _parse_string(value)


def milli_value(value: str | int | float) -> int:
    """``Quantity.MilliValue()``: ceil(q * 1000), e.g. ``"100m"`` -> 100, ``"1.5"`` -> 1500."""
    return _ceil_div(parse_quantity(value), NANO // 1000)


def value(value: str | int | float) -> int:
    """``Quantity.Value()``: ceil(q), e.g. ``"128Mi"`` -> 134217728, ``"1G"`` -> 10**9."""
    return _ceil_div(parse_quantity(value), NANO)


def nanos_to_milli(nanos: int) -> int:
    """Round nano-units up to milli-units, as ``MilliValue`` does for a summed quantity."""
    return _ceil_div(nanos, NANO // 1000)


def nanos_to_value(nanos: int) -> int:
    """Round nano-units up to whole units, as ``Value`` does for a summed quantity."""
    return _ceil_div(nanos, NANO)
