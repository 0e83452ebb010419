from __future__ import annotations

import pytest

from cityos.core.config import load_settings
from cityos.core.errors import ConfigError


def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOS_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("CITYOS_MQTT_URL", "http://broker")
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "CITYOS_DATABASE_URL" in e.value.message and "CITYOS_MQTT_URL" in e.value.message


def test_production_refuses_the_demo_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOS_ENV", "production")
    monkeypatch.delenv("CITYOS_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert e.value.field == "CITYOS_SECRET_KEY"


def test_defaults_are_embedded_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("CITYOS_DATABASE_URL", "CITYOS_DATA_DIR", "CITYOS_ENV"):
        monkeypatch.delenv(k, raising=False)
    s = load_settings()
    assert s.resolved_database_url == "sqlite:///var/cityos.db"
    monkeypatch.setenv("CITYOS_DATABASE_URL", "postgresql://u@h/db")
    assert load_settings().resolved_database_url == "postgresql+psycopg://u@h/db"


def test_rate_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOS_RATE_LIMIT_IP_PER_MINUTE", "100000")
    monkeypatch.setenv("CITYOS_RATE_LIMIT_KEY_PER_MINUTE", "200000")
    s = load_settings()
    assert (s.rate_limit_ip_per_minute, s.rate_limit_key_per_minute) == (100_000, 200_000)
    monkeypatch.setenv("CITYOS_RATE_LIMIT_IP_PER_MINUTE", "0")
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "CITYOS_RATE_LIMIT_IP_PER_MINUTE" in e.value.message
