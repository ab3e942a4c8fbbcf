"""Where the series comes from: mail sources, the spec, the series model, changelogs."""
