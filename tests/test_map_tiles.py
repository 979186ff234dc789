"""Local map tiles served by Vigil (issue 29): a PMTiles v3 archive written with protomaps' own writer,
read tile by tile over HTTP (the right bytes for each z/x/y, the zoom range and attribution from the
archive, signed-in users only, cache headers); an archive large enough to need leaf directories; and
files Vigil cannot serve (vector tiles, not an archive, missing) refused at start with one error."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.helpers import live_service, live_settings
from tests.test_browser_map import _png, build_mbtiles, build_pmtiles

from vigil.web.app import create_app
from vigil.web.context import WebContext
from vigil.web.tiles import PMTiles, TileFileError, open_tiles

PASSWORD = "correct horse battery"
LUCKNOW = (26.840, 80.920, 26.856, 80.952)


def _client(tmp_path: Path, settings, engine, tiles: Path) -> TestClient:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings).model_copy(update={"map_tiles": str(tiles)})
    ctx = WebContext.build(run_settings, live_service(run_settings, engine).db)
    ctx.users.add("operator", PASSWORD, "operator")
    return TestClient(create_app(ctx))


def _login(client: TestClient) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"username": "operator", "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_pmtiles_archive_is_served_tile_by_tile(tmp_path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    tiles = tmp_path / "lucknow.pmtiles"
    written = build_pmtiles(tiles, LUCKNOW, range(11, 15), tile=lambda z, x, y: _png((x % 256, y % 256, z * 10)))
    assert len(written) > 20 and len(set(written.values())) == len(written)
    with _client(tmp_path, settings, engine, tiles) as client:
        assert (
            client.get("/api/map/tiles/{}/{}/{}".format(*next(iter(written)))).status_code == 401
        )  # signed-in users only
        auth = _login(client)
        config = client.get("/api/map", headers=auth).json()
        assert config == {
            "tiles": "/api/map/tiles/{z}/{x}/{y}",
            "attribution": "PMTiles test tiles © Vigil test suite",
            "min_zoom": 11,
            "max_zoom": 14,
        }
        for (z, x, y), data in written.items():
            response = client.get(f"/api/map/tiles/{z}/{x}/{y}", headers=auth)
            assert response.status_code == 200 and response.content == data, (z, x, y)
            assert response.headers["content-type"] == "image/png"
            assert response.headers["cache-control"] == "private, max-age=86400"
        first_x, first_y = next(iter(written))[1:]
        for z, x, y in ((11, 0, 0), (15, first_x * 16, first_y * 16), (2, 9, 1)):  # outside it, out of range
            assert client.get(f"/api/map/tiles/{z}/{x}/{y}", headers=auth).status_code == 404


def test_a_large_archive_with_leaf_directories_is_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Over a few thousand entries the writer moves the directory into leaves: every tile still reads."""
    tiles = tmp_path / "wide.pmtiles"
    sizes = random.Random(29)  # tiles of irregular sizes: a directory that does not compress to nothing

    def tile(z: int, x: int, y: int) -> bytes:
        return f"{z}/{x}/{y}".encode().ljust(sizes.randrange(20, 600), b".")

    written = build_pmtiles(tiles, (20.0, 75.0, 30.0, 88.0), range(4, 13), tile=tile)
    archive = PMTiles(tiles)
    header = dict(archive._reader.header())
    assert header["leaf_directory_length"] > 0, "the test archive should need leaf directories"
    for (z, x, y), data in list(written.items())[::97]:
        assert archive.tile(z, x, y) == (data, "image/png")
    assert archive.tile(3, 0, 0) is None


def test_gzipped_tiles_are_served_as_the_images_they_hold(tmp_path) -> None:  # type: ignore[no-untyped-def]
    tiles = tmp_path / "gzipped.pmtiles"
    written = build_pmtiles(
        tiles, LUCKNOW, range(13, 14), tile=lambda z, x, y: _png((x % 256, 80, y % 256)), compression="GZIP"
    )
    archive = PMTiles(tiles)
    assert dict(archive._reader.header())["tile_compression"].name == "GZIP"
    for (z, x, y), data in written.items():
        assert archive.tile(z, x, y) == (data, "image/png")


def test_tile_files_vigil_cannot_serve_are_refused_at_start(tmp_path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    vector = tmp_path / "vector.pmtiles"
    build_pmtiles(vector, LUCKNOW, range(12, 13), tile=lambda z, x, y: b"\x1a\x00", tile_type="MVT")
    garbage = tmp_path / "garbage.pmtiles"
    garbage.write_bytes(b"not a map at all" * 20)
    wrong = tmp_path / "wrong.mbtiles"
    wrong.write_bytes(b"PMTiles\x03" + bytes(200))
    for path, why in (
        (vector, "holds MVT tiles; the maps draw raster"),
        (garbage, "not a PMTiles v3 archive"),
        (tmp_path / "missing.pmtiles", "no such map tile file"),
        (wrong, "not a readable .mbtiles file"),
    ):
        with pytest.raises(TileFileError, match=why) as caught:
            _client(tmp_path / path.stem, settings, engine, path)
        assert str(caught.value).startswith(str(path)), caught.value
    mbtiles = tmp_path / "fine.mbtiles"
    build_mbtiles(mbtiles, LUCKNOW, range(12, 13))
    assert open_tiles(str(mbtiles)).info.attribution == "Test tiles © Vigil test suite"
