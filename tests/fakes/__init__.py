"""Stand-ins for external programs (kubectl), backed by the project's MetalLB model."""
