"""NumPy ports of the trainer's backbone forward passes (eval mode: no dropout).

The dense parameter names and the maths are the contract fixed in docs/architecture.md; the parity test
(tests/server/test_parity.py) holds these ports to <= 1e-5 of the torch models on the same artifact.
`params` is always the artifact's dense weights keyed by torch state_dict name (without the "dense." prefix).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

LN_EPS = 1e-8
Params = Mapping[str, np.ndarray]


def linear(x: np.ndarray, params: Params, name: str) -> np.ndarray:
    """torch.nn.Linear: x (..., in) @ W.T + b with W = params[name.weight] (out, in)."""
    return x @ params[f"{name}.weight"].T + params[f"{name}.bias"]


def layer_norm(x: np.ndarray, params: Params, name: str, eps: float = LN_EPS) -> np.ndarray:
    """torch.nn.LayerNorm over the last axis (biased variance, as torch)."""
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * params[f"{name}.weight"] + params[f"{name}.bias"]


def hparam_int(hparams: Mapping[str, object], key: str, default: int) -> int:
    """An integer hyper-parameter of the artifact's spec (values are int | float | str | bool | list[int])."""
    v = hparams.get(key, default)
    if not isinstance(v, int | float | str):
        raise TypeError(f"hparam {key!r} is {v!r}, expected an integer")
    return int(v)


def hparam_ints(hparams: Mapping[str, object], key: str, default: Sequence[int]) -> list[int]:
    """A list-of-integers hyper-parameter of the artifact's spec (e.g. neumf's "mlp" widths)."""
    v = hparams.get(key, default)
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise TypeError(f"hparam {key!r} is {v!r}, expected a list of integers")
    return [int(h) for h in v]


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, dtype=x.dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---- GMF and relevance: score = out(a ⊙ b) -----------------------------------------------------------------
def folded_query(e: np.ndarray, params: Params) -> tuple[np.ndarray, float]:
    """out(e ⊙ x) = (e * w) · x + b: fold the output layer into the query so scoring is one inner product.

    e (B, d) float32 -> (queries (B, d) float32, bias).
    """
    w = params["out.weight"][0]
    return (e * w).astype(np.float32, copy=False), float(params["out.bias"][0])


# ---- NeuMF ------------------------------------------------------------------------------------------------
def neumf_user_part(eu: np.ndarray, params: Params) -> np.ndarray:
    """The user's share of the first MLP layer, computed once per query: eu (B, d) -> (B, h1)."""
    d = eu.shape[-1]
    return eu @ params["mlp.0.weight"][:, :d].T + params["mlp.0.bias"]


def neumf_scores(eu: np.ndarray, user_part: np.ndarray, ei: np.ndarray, params: Params) -> np.ndarray:
    """out(cat(eu ⊙ ei, mlp(cat(eu, ei)))) for one user against many items.

    eu (d,), user_part (h1,) from neumf_user_part, ei (m, d) -> (m,) float32. The first layer's weight is
    split [W_u | W_i] so cat(eu, ei) @ W.T = user_part + ei @ W_i.T without repeating the user m times.
    """
    d = eu.shape[-1]
    h = relu(ei @ params["mlp.0.weight"][:, d:].T + user_part)
    h = relu(linear(h, params, "mlp.2"))
    h = relu(linear(h, params, "mlp.4"))
    w = params["out.weight"][0]
    return ((ei * eu) @ w[:d] + h @ w[d:] + params["out.bias"][0]).astype(np.float32)


# ---- SASRec -----------------------------------------------------------------------------------------------
def _attention(q: np.ndarray, kv: np.ndarray, params: Params, name: str, n_heads: int) -> np.ndarray:
    """torch.nn.MultiheadAttention(batch_first=True) with a causal mask. q, kv (B, L, d) -> (B, L, d)."""
    B, L, d = q.shape
    W, b = params[f"{name}.in_proj_weight"], params[f"{name}.in_proj_bias"]
    Qp = q @ W[:d].T + b[:d]
    Kp = kv @ W[d : 2 * d].T + b[d : 2 * d]
    Vp = kv @ W[2 * d :].T + b[2 * d :]
    hd = d // n_heads

    def heads(x: np.ndarray) -> np.ndarray:
        return x.reshape(B, L, n_heads, hd).transpose(0, 2, 1, 3)  # (B, h, L, hd)

    att = heads(Qp) @ heads(Kp).transpose(0, 1, 3, 2) / np.float32(np.sqrt(hd))  # (B, h, L, L)
    blocked = np.triu(np.ones((L, L), dtype=bool), k=1)
    att = np.where(blocked, np.float32(-np.inf), att)
    out = (_softmax(att) @ heads(Vp)).transpose(0, 2, 1, 3).reshape(B, L, d)
    return linear(out, params, f"{name}.out_proj")


def sasrec_hidden(
    seq_emb: np.ndarray, mask: np.ndarray, params: Params, n_blocks: int, n_heads: int
) -> np.ndarray:
    """The last position's hidden state, the query of next-item scoring.

    seq_emb (B, L, d) float32: item embeddings of a left-padded history, zero vectors at pads;
    mask (B, L) bool, True at real items. Returns (B, d) float32.
    """
    d = seq_emb.shape[-1]
    m = mask[..., None].astype(np.float32)
    x = (seq_emb * np.float32(np.sqrt(d)) + params["pos.weight"]) * m
    for b in range(n_blocks):
        p = f"blocks.{b}"
        q = layer_norm(x, params, f"{p}.ln1")
        x = layer_norm(q + _attention(q, x, params, f"{p}.attn", n_heads), params, f"{p}.ln2")
        x = x + linear(relu(linear(x, params, f"{p}.ffn1")), params, f"{p}.ffn2")
        x = x * m
    return layer_norm(x[:, -1, :], params, "last_ln").astype(np.float32)


def dense_shapes(model_type: str, d: int, hparams: Mapping[str, object]) -> dict[str, tuple[int, ...]]:
    """Every dense parameter a model type needs, with its shape (the artifact is validated against this)."""
    if model_type in ("gmf", "relevance"):
        return {"out.weight": (1, d), "out.bias": (1,)}
    if model_type == "neumf":
        h1, h2, h3 = hparam_ints(hparams, "mlp", [64, 32, 16])
        return {
            "mlp.0.weight": (h1, 2 * d), "mlp.0.bias": (h1,),
            "mlp.2.weight": (h2, h1), "mlp.2.bias": (h2,),
            "mlp.4.weight": (h3, h2), "mlp.4.bias": (h3,),
            "out.weight": (1, d + h3), "out.bias": (1,),
        }
    if model_type == "sasrec":
        L, nb = hparam_int(hparams, "max_len", 50), hparam_int(hparams, "n_blocks", 2)
        shapes: dict[str, tuple[int, ...]] = {
            "pos.weight": (L, d), "last_ln.weight": (d,), "last_ln.bias": (d,),
        }
        for b in range(nb):
            p = f"blocks.{b}"
            shapes |= {
                f"{p}.ln1.weight": (d,), f"{p}.ln1.bias": (d,),
                f"{p}.attn.in_proj_weight": (3 * d, d), f"{p}.attn.in_proj_bias": (3 * d,),
                f"{p}.attn.out_proj.weight": (d, d), f"{p}.attn.out_proj.bias": (d,),
                f"{p}.ln2.weight": (d,), f"{p}.ln2.bias": (d,),
                f"{p}.ffn1.weight": (d, d), f"{p}.ffn1.bias": (d,),
                f"{p}.ffn2.weight": (d, d), f"{p}.ffn2.bias": (d,),
            }
        return shapes
    raise ValueError(f"unknown model type {model_type!r}")
