"""Venue adapters (one sub-package per dialect) and the exchange simulator."""
