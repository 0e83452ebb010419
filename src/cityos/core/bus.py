"""The message bus: each command has one handler; events have any number of subscribers.

Every door (HTTP, CLI, MQTT, the job runner) sends commands here, so a rule lives in
one place. Events are not dispatched in-process: handlers record them in the outbox
(`cityos.core.outbox.emit`) and the worker relays them to the subscribers registered
here, after the change that raised them has committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from cityos.core.errors import CityOSError

CommandHandler = Callable[[Any], Any]
Subscriber = Callable[[dict[str, Any]], None]
JobHandler = Callable[[dict[str, Any]], None]


class MessageBus:
    def __init__(self) -> None:
        self._commands: dict[type, CommandHandler] = {}
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)
        self._jobs: dict[str, JobHandler] = {}
        self.recurring: dict[str, int] = {}

    # commands -----------------------------------------------------------
    def register(self, command_type: type, handler: CommandHandler) -> None:
        if command_type in self._commands:
            raise RuntimeError(f"{command_type.__name__} already has a handler")
        self._commands[command_type] = handler

    def handle(self, command: Any) -> Any:
        handler = self._commands.get(type(command))
        if handler is None:
            raise CityOSError(f"no handler for {type(command).__name__}")
        return handler(command)

    # events -------------------------------------------------------------
    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self._subscribers[topic].append(subscriber)

    def subscribers(self, topic: str) -> list[Subscriber]:
        return list(self._subscribers.get(topic, ())) + list(self._subscribers.get("*", ()))

    # jobs ---------------------------------------------------------------
    def register_job(self, kind: str, handler: JobHandler) -> None:
        self._jobs[kind] = handler

    def register_recurring(self, kind: str, handler: JobHandler, every_s: int) -> None:
        """A job the workers keep scheduled (sweeps, sealers, probes): one row, rescheduled after each run."""
        self.register_job(kind, handler)
        self.recurring[kind] = every_s

    def job_handler(self, kind: str) -> JobHandler | None:
        return self._jobs.get(kind)

    @property
    def job_kinds(self) -> list[str]:
        return sorted(self._jobs)
