"""mgqe: Multi-Granular Quantized Embeddings for recommender systems.

Subpackages (each a required top-level folder of the repository):
- ``mgqe.proto``   (folder ``proto/``):   artifact format, bit packing, store layout, HTTP API schemas.
  Depends only on numpy, bitarray and pydantic.
- ``mgqe.trainer`` (folder ``trainer/``): data, embedding methods, backbones, training, export (PyTorch).
- ``mgqe.server``  (folder ``server/``):  FastAPI service; imports ``mgqe.proto`` and never torch/trainer.
"""

__version__ = "0.1.0"
