"""The kernel's own per-patch checks, one unit (module) per check, found by the registry
(registry.py): adding a check is adding a module here that calls `registry.register`."""
