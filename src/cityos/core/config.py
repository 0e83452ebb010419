"""Settings from the environment, validated once at start with a clear message."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityos.core.errors import ConfigError

DEV_SECRET = "cityos-dev-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOS_", extra="ignore")

    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite under the data dir")
    mqtt_url: str | None = None
    redis_url: str | None = None
    secret_key: str = DEV_SECRET
    data_dir: Path = Path("var")
    env: str = Field(default="dev", description="dev | test | production")
    tile_url: str | None = Field(default=None, description="optional XYZ tile URL for maps; unset = polygons only")
    log_level: str = "INFO"
    max_request_bytes: int = 10 * 1024 * 1024
    db_busy_timeout_s: float = Field(default=30.0, gt=0, description="SQLite: how long a write waits for the lock (then 503)")
    geo_index_ttl_s: float = 5.0
    open311_jurisdiction: str = Field(default="500000", description="the jurisdiction_id this Open311 server answers for")
    rate_limit_ip_per_minute: int = Field(default=3000, ge=1, description="requests per client IP per minute")
    rate_limit_key_per_minute: int = Field(default=6000, ge=1, description="requests per API key or token per minute")
    public_url: str = Field(default="http://127.0.0.1:8000",
                            description="where this CityOS answers (health probes of its own components)")
    assistant_llm_url: str | None = Field(default=None, description="optional OpenAI-compatible endpoint (…/v1) for "
                                          "free-form answers; unset = templates and search hits only")
    assistant_llm_model: str = "default"
    assistant_llm_key: str | None = None
    assistant_llm_timeout_s: float = Field(default=20.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, v: str) -> str:
        if v and not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError("must start with sqlite:// or postgresql:// (e.g. postgresql+psycopg://user@host/db)")
        return v

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt(cls, v: str | None) -> str | None:
        if not v:
            return None
        u = urlparse(v)
        if u.scheme not in ("mqtt", "mqtts", "tcp") or not u.hostname:
            raise ValueError("must look like mqtt://host:1883")
        return v

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must look like redis://host:6379/0")
        return v

    @field_validator("env")
    @classmethod
    def _check_env(cls, v: str) -> str:
        if v not in ("dev", "test", "production"):
            raise ValueError("must be dev, test or production")
        return v

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://"):]
            return url
        return f"sqlite:///{self.data_dir / 'cityos.db'}"


def load_settings(**overrides: object) -> Settings:
    """Read and check the settings; raise ConfigError naming every bad variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"CITYOS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    if settings.env == "production" and settings.secret_key == DEV_SECRET:
        raise ConfigError("CITYOS_SECRET_KEY: must be set to a secret of your own in production", field="CITYOS_SECRET_KEY")
    return settings
