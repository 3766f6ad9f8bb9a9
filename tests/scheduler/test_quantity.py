"""Resource quantities, parsed and rounded as apimachinery does."""

from __future__ import annotations

import pytest

from cluster.scheduler.quantity import QuantityError, milli_value, parse_quantity, value


@pytest.mark.parametrize(
    ("text", "milli", "whole"),
    [
        ("100m", 100, 1),
        ("1.5", 1500, 2),
        ("128Mi", 128 * 2**20 * 1000, 128 * 2**20),
        ("1G", 10**12, 10**9),
        ("2Ki", 2048 * 1000, 2048),
        ("1e3", 10**6, 1000),
        ("1E3", 10**6, 1000),
        ("1.5e-3", 2, 1),
        ("0", 0, 0),
        ("0.1m", 1, 1),
        ("1n", 1, 1),
        ("500u", 1, 1),
        ("+2", 2000, 2),
        ("-100m", -100, 0),
        ("1E", 10**21, 10**18),
        ("1Ei", 2**60 * 1000, 2**60),
        (".5", 500, 1),
        ("3.000", 3000, 3),
        ("250M", 250 * 10**9, 250 * 10**6),
    ],
)
def test_parse(text: str, milli: int, whole: int) -> None:
    assert milli_value(text) == milli
    assert value(text) == whole


def test_rounds_up_to_nano_precision() -> None:
    assert parse_quantity("1.0000000001") == 10**9 + 1
    assert parse_quantity(3) == 3 * 10**9


@pytest.mark.parametrize("bad", ["", "abc", "1.5.5", "1Z", "1 Gi", "1Gi2", "e3x"])
def test_invalid(bad: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)
