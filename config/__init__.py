"""Typed models of every YAML file a person writes, and the loader that explains mistakes."""
from .loader import ConfigError, KINDS, detect_kind, file_hash, load, model_for

__all__ = ["ConfigError", "KINDS", "detect_kind", "file_hash", "load", "model_for"]
