"""The MetalLB model: pools, the allocator, keys from manifests, the controller. Pure: no I/O."""
