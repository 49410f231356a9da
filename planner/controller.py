"""The controller model's public surface (kept stable; outside suites call it).

    from planner.controller import Controller
    c = Controller(pools=None, behavior="metallb-0.15")
    r = c.set_balancer("ns/name", manifest)   # r.state, r.service, r.warnings, r.group_writes

The code lives in planner/model/controller.py.
"""

from planner.model.controller import (
    BEHAVIORS,
    ERROR,
    ERROR_NO_RETRY,
    REPROCESS_ALL,
    SUCCESS,
    Controller,
    Event,
    Result,
)

__all__ = [
    "BEHAVIORS",
    "ERROR",
    "ERROR_NO_RETRY",
    "REPROCESS_ALL",
    "SUCCESS",
    "Controller",
    "Event",
    "Result",
]
