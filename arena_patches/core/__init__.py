"""The ground floor: records, errors, the one subprocess runner, paths, the executor."""
