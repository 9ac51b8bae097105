"""classbridge: studio management for fitness and yoga studios, bridged to aggregators."""

__version__ = "0.1.0"
