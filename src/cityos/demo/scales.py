"""The demo city's sizes (DESIGN.md): S for a laptop, M for a large city, L for Chongqing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    districts: int
    townships: int
    villages: int
    grids: int
    residents: int
    cases: int


SCALES: dict[str, Scale] = {
    "S": Scale("S", 3, 12, 60, 300, 10_000, 2_000),
    "M": Scale("M", 10, 120, 1_200, 6_000, 1_000_000, 100_000),
    "L": Scale("L", 41, 1_031, 11_000, 62_000, 32_000_000, 8_000_000),
}
