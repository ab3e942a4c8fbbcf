"""The stages composed: `verify` is their composition; each command runs one alone."""
