"""Reports: overlays, plots, tables."""
