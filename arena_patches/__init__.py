"""arena-patches: pre-merge verification of multi-version kernel patch series."""
