"""The build stage: targets (data), kconfig, diagnostics, the build directory, the matrix."""
