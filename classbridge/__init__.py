"""classbridge: studio management for fitness and yoga studios, bridged to aggregators."""

from importlib.metadata import version

__version__ = version("classbridge")  # the one version is pyproject.toml's
