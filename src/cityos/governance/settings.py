"""Case-loop settings read from the environment (CITYOS_ prefix), checked once.

- `CITYOS_SWEEP_INTERVAL_S` (30): how often the workers run the overdue/escalation sweep.
- `CITYOS_ESCALATION_GRACE_S` (7200): how long a case stays overdue before it escalates one level.
- `CITYOS_SMS_CHANNEL` (`log`): the adapter that carries overdue and supervision notices as SMS:
  `log` writes one structured log line per message, `none` turns the channel off.
- `CITYOS_SSE_POLL_S` (1.0): the fallback poll of the live inbox (one per process, shared by
  every live connection of it). New notices are read at once after the commit that wrote
  them (see `governance.live`); the poll is how another process's writes are seen on SQLite.
- `CITYOS_SSE_HEARTBEAT_S` (15): comment lines that keep idle streams open through proxies.
- `CITYOS_WEBHOOK_TIMEOUT_S` (10): time limit of one webhook delivery attempt.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cityos.core.errors import ConfigError


class CaseLoopSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOS_", extra="ignore")

    sweep_interval_s: int = Field(30, ge=1, le=3600)
    escalation_grace_s: float = Field(7200.0, gt=0)
    sms_channel: Literal["log", "none"] = "log"
    sse_poll_s: float = Field(1.0, gt=0, le=600)
    sse_heartbeat_s: float = Field(15.0, gt=0, le=300)
    webhook_timeout_s: float = Field(10.0, gt=0, le=60)


@lru_cache(maxsize=1)
def case_settings() -> CaseLoopSettings:
    """The settings of this process (read once; a bad value stops the start with its name)."""
    try:
        return CaseLoopSettings()
    except ValidationError as exc:
        problems = "; ".join(f"CITYOS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None
