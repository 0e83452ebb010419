"""Import and export of divisions through the CLI's handler: all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, mapping
from typer.testing import CliRunner

from cityos.bootstrap import Platform
from cityos.core.errors import ValidationError
from cityos.geo import store
from cityos.geo.handlers import ImportDivisions, export_divisions, parse_geojson_file


def feat(code: str, geom: Any, name: str = "名") -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, "name_zh": name, "name_en": "n"}, "geometry": mapping(geom)}


def fc(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


CITY = feat("500000", box(106, 29, 108, 30), "重庆市")
TWO = [feat("500101", box(106, 29, 107, 30), "甲区"), feat("500102", box(107, 29, 108, 30), "乙区")]


def count(p: Platform) -> dict[str, int]:
    with p.db.read() as conn:
        return store.count_by_level(conn)


def test_import_locate_and_export_round_trip(platform: Platform) -> None:
    assert platform.bus.handle(ImportDivisions(fc(CITY, *TWO))) == {"city": 1, "district": 2}
    assert platform.geo.locate(106.5, 29.5).chain == ("500101", "500000")
    assert not platform.geo.locate(110, 29.5).inside
    out = export_divisions(platform)
    assert [f["id"] for f in out["features"]] == ["500000", "500101", "500102"]
    # Importing the export again is accepted and changes nothing.
    platform.bus.handle(ImportDivisions(out))
    assert count(platform) == {"city": 1, "district": 2}


@pytest.mark.parametrize(
    ("features", "needle"),
    [
        ([CITY, feat("500101", box(106, 29, 107.5, 30)), TWO[1]], "500101: overlaps 500102"),
        ([CITY, feat("500101", box(106, 29, 106.5, 30)), TWO[1]], "500000: its children leave a gap"),
        ([CITY, feat("500101", box(105, 29, 107, 30)), TWO[1]], "500101: lies partly outside its parent 500000"),
        ([CITY, TWO[0], TWO[0]], "500101: appears more than once"),
        ([CITY, *TWO, feat("500101001", box(106, 29, 106.5, 29.5)), feat("500101001", box(106.5, 29, 107, 30))],
         "500101001: appears more than once"),
    ],
)
def test_bad_trees_are_refused_whole(platform: Platform, features: list[dict[str, Any]], needle: str) -> None:
    with pytest.raises(ValidationError) as e:
        platform.bus.handle(ImportDivisions(fc(*features)))
    assert needle in e.value.message
    assert count(platform) == {}


def test_self_intersection_and_bad_codes_name_the_item(platform: Platform) -> None:
    bow = {"type": "Polygon", "coordinates": [[[106, 29], [108, 30], [108, 29], [106, 30], [106, 29]]]}
    with pytest.raises(ValidationError) as e:
        platform.bus.handle(ImportDivisions(fc({**CITY, "geometry": bow})))
    assert "500000: geometry is invalid: Self-intersection" in e.value.message
    with pytest.raises(ValidationError) as e:
        platform.bus.handle(ImportDivisions(fc(CITY, feat("50010x", box(106, 29, 107, 30)))))
    assert e.value.field == "features[1].properties.code"
    with pytest.raises(ValidationError) as e:
        platform.bus.handle(ImportDivisions({"type": "Feature"}))
    assert e.value.field == "type"
    assert count(platform) == {}


def test_a_later_import_must_fit_the_tree_in_the_database(platform: Platform) -> None:
    platform.bus.handle(ImportDivisions(fc(CITY, *TWO)))
    towns = [feat("500101001", box(106, 29, 106.5, 30)), feat("500101002", box(106.5, 29, 107.2, 30))]
    with pytest.raises(ValidationError) as e:
        platform.bus.handle(ImportDivisions(fc(*towns)))
    assert "500101002: lies partly outside its parent 500101" in e.value.message
    assert count(platform) == {"city": 1, "district": 2}


def test_cli_import_reports_malformed_files(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityos.cli import app

    monkeypatch.setenv("CITYOS_DATABASE_URL", database_url)
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(ValidationError) as e:
        parse_geojson_file(bad)
    assert "not valid JSON" in e.value.message and e.value.field == "file"
    good = tmp_path / "city.geojson"
    good.write_text(json.dumps(fc(CITY, *TWO)), encoding="utf-8")
    result = CliRunner().invoke(app, ["geo", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported 1 city, 2 district" in result.output
    result = CliRunner().invoke(app, ["geo", "locate", "106.5", "29.5"])
    assert '"district": "500101"' in result.output
