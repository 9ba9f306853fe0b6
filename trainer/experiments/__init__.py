"""The paper's tables and figures on MovieLens-1M (see suite.py), cached per cell (cells.py)."""

from .suite import EXPERIMENTS

__all__ = ["EXPERIMENTS"]
