"""shared-ip planner: plan MetalLB shared-IP changes so no Service goes pending.

Pipeline: sources -> diff -> graph -> plan -> verify -> render / apply.
"""

__version__ = "0.1.0"
