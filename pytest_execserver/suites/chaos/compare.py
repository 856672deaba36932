"""Byte comparisons with short accounts (no megabyte diffs), shared by both chaos suites."""

from __future__ import annotations


def first_difference(actual: bytes, expected: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
              min(len(actual), len(expected)))
    return (f"first difference at byte {at}: got {len(actual)} bytes ({actual[max(0, at - 8):at + 24]!r} there), "
            f"expected {len(expected)} bytes ({expected[max(0, at - 8):at + 24]!r} there)")


def assert_bytes(actual: bytes, expected: bytes, what: str) -> None:
    """Byte-exact comparison with a short message (no megabyte diffs)."""
    if actual != expected:
        raise AssertionError(f"{what}: {first_difference(actual, expected)}")


def assert_prefix(actual: bytes, expected: bytes, what: str) -> None:
    """Whatever arrived before a failure is an exact prefix of the expected output (nothing corrupted)."""
    if not expected.startswith(actual):
        raise AssertionError(f"{what} is not a prefix of the expected output: {first_difference(actual, expected)}")
