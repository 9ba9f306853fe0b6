"""Backbones (GMF, NeuMF, SASRec, item-pair relevance) whose user/item inputs are any embedding method.

Dense parameter names are the contract with the server's numpy ports (docs/architecture.md, "Dense weights").
Embedding tables live in the attributes `user` and `item`, so `dense_state_dict(model)` is everything else.
"""

from .factory import build_model, dense_state_dict
from .gmf import GMF
from .neumf import NeuMF
from .relevance import Relevance
from .sasrec import SASRec

__all__ = ["GMF", "NeuMF", "Relevance", "SASRec", "build_model", "dense_state_dict"]
