"""The allocator model's public surface (kept stable): re-exported from planner.model.allocator."""

from planner.model.allocator import (
    AllocationError,
    Allocator,
    AllocatorState,
    ErrorKind,
    Outcome,
    Port,
    shuffled_pool_order,
)
from planner.model.pools import Pool
from planner.model.selectors import LabelSelector

__all__ = [
    "AllocationError",
    "Allocator",
    "AllocatorState",
    "ErrorKind",
    "LabelSelector",
    "Outcome",
    "Pool",
    "Port",
    "shuffled_pool_order",
]
