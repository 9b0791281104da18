#!/usr/bin/python3
"""Independent PyTorch reference for quantscope (Llama / Qwen2 / openPangu-Embedded decoders).

This file is written from the model definitions (HF Llama / Qwen2 / openPangu-Embedded
modeling code, karpathy/llama2.c run.c), not from quantscope's C++ code. All compute is fp32;
checkpoints stored as bf16 are upcast to fp32 on load. It is the oracle the C++ forward pass,
loaders, tokenizer and perplexity protocols are tested against.

Requires Debian's interpreter with apt packages python3-torch and python3-numpy:

    /usr/bin/python3 tests/reference/torch_reference.py make-fixtures
        Writes small synthetic checkpoints (own random weights, fixed seeds) and their logits to
        tests/fixtures/reference/<name>/.
    /usr/bin/python3 tests/reference/torch_reference.py stories-ppl [--batch 32]
        stories260K + tok512 perplexity on data/tinystories-valid.txt under three protocols;
        writes tests/fixtures/reference/stories260k_ppl.json, stories260k_logits.npy,
        stories260k_logits_input.json.
    /usr/bin/python3 tests/reference/torch_reference.py greedy
        Greedy decoding from BOS with stories260K; must equal data/stories260K-greedy200.txt.
    /usr/bin/python3 tests/reference/torch_reference.py check-tokenizer [--chars 4000]
        Heap encoder == naive O(n^2) llama2.c encoder on a prefix of the validation text.
    /usr/bin/python3 tests/reference/torch_reference.py self-test
        Internal consistency checks (rope styles, causal masking, safetensors round trip).
    /usr/bin/python3 tests/reference/torch_reference.py logits --model DIR_OR_BIN --ids 1,2,3
        Prints / saves logits of any supported checkpoint (HF directory or llama2.c .bin).

CI does not need torch: the outputs are committed under tests/fixtures/reference/.
"""

import argparse
import heapq
import json
import math
import os
import re
import struct
import sys
import time
from dataclasses import dataclass

# libgomp's default busy-waiting makes 2 torch threads ~3x slower than 1 when the cores are shared
# (e.g. with a parallel C++ build); passive waiting costs nothing when they are not.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA_DIR = os.path.join(REPO_ROOT, "data")
FIXTURE_DIR = os.path.join(REPO_ROOT, "tests", "fixtures", "reference")


# =============================================================================================
# safetensors I/O (hand written; no `safetensors` package)
#   file = u64 little-endian header length N, N bytes of JSON header, raw little-endian data.
#   header = {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
#   offsets relative to the first data byte. The header is padded with spaces to a multiple of 8.
# =============================================================================================

_ST_DTYPES = {
    "F32": (torch.float32, 4),
    "BF16": (torch.bfloat16, 2),
    "F16": (torch.float16, 2),
}
_TORCH_TO_ST = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


def read_safetensors(path):
    """Returns {name: tensor in its stored dtype}, plus the metadata dict."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        dtype, itemsize = _ST_DTYPES[info["dtype"]]
        shape = info["shape"]
        b, e = info["data_offsets"]
        numel = int(np.prod(shape)) if shape else 1
        if e - b != numel * itemsize:
            raise ValueError(f"{path}: {name}: data_offsets size {e - b} != {numel}*{itemsize}")
        raw = blob[base + b:base + e]
        if dtype == torch.bfloat16:
            t = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16)
        elif dtype == torch.float16:
            t = torch.from_numpy(np.frombuffer(raw, dtype="<f2").copy())
        else:
            t = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())
        out[name] = t.reshape(shape)
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: tensor (f32/bf16/f16)}; written in sorted name order, contiguous data."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        elif t.dtype == torch.float16:
            raw = t.numpy().astype("<f2").tobytes()
        elif t.dtype == torch.float32:
            raw = t.numpy().astype("<f4").tobytes()
        else:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        header[name] = {"dtype": _TORCH_TO_ST[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata is not None:
        header = {"__metadata__": metadata, **header}
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)
    return offset  # bytes of tensor data


# =============================================================================================
# Model configuration
# =============================================================================================

@dataclass
class ModelConfig:
    family: str            # "llama", "qwen2", "pangu_embedded", "llama2c"
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    rope_theta: float
    rms_norm_eps: float
    rope_style: str        # "half" (HF rotate_half: pairs (i, i+d/2)) or "interleaved" (llama2.c: (2i, 2i+1))
    qkv_bias: bool
    o_bias: bool
    tie_word_embeddings: bool
    max_seq_len: int = 0


def config_from_hf(c):
    """Interprets a HF config.json dict for the three supported families."""
    mt = c.get("model_type", "")
    arch = (c.get("architectures") or [""])[0]
    if c.get("rope_scaling") not in (None, {}):
        raise NotImplementedError("rope_scaling is not implemented by the reference")
    if c.get("hidden_act", "silu") != "silu":
        raise NotImplementedError(f"hidden_act {c.get('hidden_act')}")
    if mt == "PanguEmbedded" or arch == "PanguEmbeddedForCausalLM":
        # openPangu-R-7B reuses the architecture name with sliding windows / attention sinks / split
        # rope dims; refuse those configs rather than compute something wrong.
        for key in ("param_sink_number", "sliding_window", "qk_nope_dim", "qk_rope_dim",
                    "kv_lora_rank", "sandwich_norm"):
            if c.get(key):
                raise NotImplementedError(f"PanguEmbedded config with {key} is not a dense Embedded model")
        family = "pangu_embedded"
        qkv_bias = o_bias = bool(c.get("bias", True))       # PanguEmbeddedConfig default bias=True
        tie = bool(c.get("tie_word_embeddings", False))     # PanguEmbeddedConfig default False
    elif mt == "qwen2":
        if c.get("use_sliding_window"):
            raise NotImplementedError("Qwen2 sliding window")
        family = "qwen2"
        qkv_bias, o_bias = True, False                      # Qwen2Attention: q/k/v bias=True, o bias=False
        tie = bool(c.get("tie_word_embeddings", False))
    elif mt == "llama":
        if c.get("mlp_bias"):
            raise NotImplementedError("Llama mlp_bias")
        family = "llama"
        qkv_bias = o_bias = bool(c.get("attention_bias", False))
        tie = bool(c.get("tie_word_embeddings", False))
    else:
        raise NotImplementedError(f"model_type {mt!r} / architecture {arch!r}")
    hidden = c["hidden_size"]
    heads = c["num_attention_heads"]
    head_dim = c.get("head_dim") or hidden // heads
    return ModelConfig(
        family=family, hidden_size=hidden, intermediate_size=c["intermediate_size"],
        num_layers=c["num_hidden_layers"], num_heads=heads,
        num_kv_heads=c.get("num_key_value_heads") or heads, head_dim=head_dim,
        vocab_size=c["vocab_size"], rope_theta=float(c.get("rope_theta", 10000.0)),
        rms_norm_eps=float(c.get("rms_norm_eps", 1e-6)), rope_style="half",
        qkv_bias=qkv_bias, o_bias=o_bias, tie_word_embeddings=tie,
        max_seq_len=c.get("max_position_embeddings", 0))


def expected_tensor_names(cfg):
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    if not cfg.tie_word_embeddings:
        names.append("lm_head.weight")
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            names.append(p + f"self_attn.{proj}.weight")
        if cfg.qkv_bias:
            names += [p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"]
        if cfg.o_bias:
            names.append(p + "self_attn.o_proj.bias")
        for proj in ("gate_proj", "up_proj", "down_proj"):
            names.append(p + f"mlp.{proj}.weight")
    return names


# =============================================================================================
# Loaders
# =============================================================================================

def load_hf(model_dir):
    """HF directory: config.json + model.safetensors, or shards listed in model.safetensors.index.json.
    Returns (cfg, {name: fp32 tensor}). rotary_emb.inv_freq buffers are skipped (recomputed)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = config_from_hf(json.load(f))
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        files = [single]
    elif os.path.exists(index):
        with open(index) as f:
            wm = json.load(f)["weight_map"]
        files = [os.path.join(model_dir, s) for s in sorted(set(wm.values()))]
    else:
        raise FileNotFoundError(f"{model_dir}: no model.safetensors or model.safetensors.index.json")
    weights = {}
    for path in files:
        tensors, _ = read_safetensors(path)
        for name, t in tensors.items():
            if name.endswith("rotary_emb.inv_freq"):
                continue
            if name in weights:
                raise ValueError(f"duplicate tensor {name}")
            weights[name] = t.to(torch.float32)
    if cfg.tie_word_embeddings:
        # HF ties lm_head to the embedding; a stored lm_head.weight would be overwritten.
        weights.pop("lm_head.weight", None)
    expected = set(expected_tensor_names(cfg))
    missing = expected - set(weights)
    extra = set(weights) - expected
    if missing or extra:
        raise ValueError(f"tensor set mismatch: missing {sorted(missing)[:5]} extra {sorted(extra)[:5]}")
    return cfg, weights


def load_llama2c(path):
    """llama2.c legacy .bin: 7 x int32 header {dim, hidden_dim, n_layers, n_heads, n_kv_heads,
    vocab_size, seq_len}; vocab_size < 0 means an unshared classifier follows. Then fp32 tensors:
    token_embedding [V,D], rms_att [L,D], wq [L,D,D], wk [L,KV,D], wv [L,KV,D], wo [L,D,D],
    rms_ffn [L,D], w1 [L,H,D], w2 [L,D,H], w3 [L,H,D], rms_final [D], freq_cis_real [S,hd/2],
    freq_cis_imag [S,hd/2] (both skipped), wcls [V,D] if unshared. Weights are [out, in] like
    nn.Linear. w1 = gate, w3 = up, w2 = down. Returned with HF tensor names."""
    with open(path, "rb") as f:
        blob = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack_from("<7i", blob, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // n_heads
    kv_dim = n_kv * hd
    data = np.frombuffer(blob, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        t = torch.from_numpy(data[pos:pos + n].copy()).reshape(shape)
        pos += n
        return t

    emb = take(vocab, dim)
    rms_att = take(n_layers, dim)
    wq = take(n_layers, dim, dim)
    wk = take(n_layers, kv_dim, dim)
    wv = take(n_layers, kv_dim, dim)
    wo = take(n_layers, dim, dim)
    rms_ffn = take(n_layers, dim)
    w1 = take(n_layers, hidden, dim)
    w2 = take(n_layers, dim, hidden)
    w3 = take(n_layers, hidden, dim)
    rms_final = take(dim)
    take(seq_len, hd // 2)  # freq_cis_real (unused)
    take(seq_len, hd // 2)  # freq_cis_imag (unused)
    wcls = None if shared else take(vocab, dim)
    if pos != data.size:
        raise ValueError(f"{path}: {data.size - pos} trailing floats")
    w = {"model.embed_tokens.weight": emb, "model.norm.weight": rms_final}
    if wcls is not None:
        w["lm_head.weight"] = wcls
    for i in range(n_layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = rms_att[i]
        w[p + "post_attention_layernorm.weight"] = rms_ffn[i]
        w[p + "self_attn.q_proj.weight"] = wq[i]
        w[p + "self_attn.k_proj.weight"] = wk[i]
        w[p + "self_attn.v_proj.weight"] = wv[i]
        w[p + "self_attn.o_proj.weight"] = wo[i]
        w[p + "mlp.gate_proj.weight"] = w1[i]
        w[p + "mlp.down_proj.weight"] = w2[i]
        w[p + "mlp.up_proj.weight"] = w3[i]
    cfg = ModelConfig(family="llama2c", hidden_size=dim, intermediate_size=hidden, num_layers=n_layers,
                      num_heads=n_heads, num_kv_heads=n_kv, head_dim=hd, vocab_size=vocab,
                      rope_theta=10000.0, rms_norm_eps=1e-5, rope_style="interleaved",
                      qkv_bias=False, o_bias=False, tie_word_embeddings=shared, max_seq_len=seq_len)
    return cfg, w


def load_model(path):
    if os.path.isdir(path):
        return Transformer(*load_hf(path))
    return Transformer(*load_llama2c(path))


# =============================================================================================
# The decoder (fp32)
# =============================================================================================

def rms_norm(x, weight, eps):
    # HF order: normalize in fp32, then multiply by the weight. llama2.c: w * (x / sqrt(mean + eps)).
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope_cos_sin(n_pos, head_dim, theta):
    """cos/sin tables [n_pos, head_dim/2] for pair frequency inv_freq_i = theta^(-2i/head_dim).
    Angles are computed in float64 and rounded to fp32 at the end (HF computes them in fp32,
    llama2.c in fp32 with powf/cosf; differences are ~1e-7 * position)."""
    i = torch.arange(0, head_dim, 2, dtype=torch.float64)
    inv_freq = 1.0 / (theta ** (i / head_dim))
    ang = torch.arange(n_pos, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return ang.cos().float(), ang.sin().float()


def apply_rope(x, cos, sin, style):
    """x: [B, heads, T, head_dim]; cos/sin: [T, head_dim/2]."""
    if style == "half":
        # HF: emb = cat(freqs, freqs); x*cos + rotate_half(x)*sin, rotate_half(x) = cat(-x2, x1).
        # i.e. pair (i, i + d/2) is rotated by angle_i.
        c = torch.cat([cos, cos], dim=-1)
        s = torch.cat([sin, sin], dim=-1)
        half = x.shape[-1] // 2
        rot = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * c + rot * s
    if style == "interleaved":
        # llama2.c: pair (2i, 2i+1): v0' = v0 cos - v1 sin; v1' = v0 sin + v1 cos.
        x0 = x[..., 0::2]
        x1 = x[..., 1::2]
        y0 = x0 * cos - x1 * sin
        y1 = x0 * sin + x1 * cos
        return torch.stack([y0, y1], dim=-1).flatten(-2)
    raise ValueError(style)


def _mkldnn_linear(x, w, b):
    """fp32 GEMM through oneDNN. Debian's torch links the netlib reference BLAS, which is 2-3x
    slower than oneDNN for the projections; the math is the same fp32 x @ w.T + b (only the
    summation order, i.e. the last bits, differ)."""
    shape = x.shape
    y = torch._C._nn.mkldnn_linear(x.reshape(-1, shape[-1]).contiguous().to_mkldnn(), w, b)
    return y.to_dense().reshape(*shape[:-1], -1)


def mkldnn_usable():
    try:
        x, w, b = torch.randn(5, 3, 4), torch.randn(6, 4), torch.randn(6)
        y = _mkldnn_linear(x, w.to_mkldnn(), b.to_mkldnn())
        return (y - F.linear(x, w, b)).abs().max().item() < 1e-5
    except Exception:
        return False


class Transformer:
    def __init__(self, cfg, weights, fast=False, attn_block=32):
        """fast=True: projections through oneDNN (see _mkldnn_linear); used for the long perplexity
        runs only. Fixtures, greedy and self tests use the plain torch path."""
        self.cfg = cfg
        self.w = weights
        self.lm_head_name = "model.embed_tokens.weight" if cfg.tie_word_embeddings else "lm_head.weight"
        self.attn_block = attn_block
        self.fast = fast and mkldnn_usable()
        if self.fast:
            self.wm = {k: v.contiguous().to_mkldnn() for k, v in weights.items()
                       if v.dim() == 2 or k.endswith(".bias")}

    def _linear(self, x, name, bias):
        if self.fast:
            return _mkldnn_linear(x, self.wm[name + ".weight"], self.wm[name + ".bias"] if bias else None)
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"] if bias else None)

    @torch.no_grad()
    def forward(self, ids):
        """ids: LongTensor [B, T] (positions 0..T-1, no padding). Returns fp32 logits [B, T, V]."""
        cfg = self.cfg
        B, T = ids.shape
        nq, nkv, hd = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        x = self.w["model.embed_tokens.weight"][ids]                       # [B, T, H]
        cos, sin = rope_cos_sin(T, hd, cfg.rope_theta)
        causal = torch.ones(T, T, dtype=torch.bool).tril()                  # key j visible to query i iff j <= i
        scale = 1.0 / math.sqrt(hd)
        for l in range(cfg.num_layers):
            p = f"model.layers.{l}."
            # --- attention block
            h = rms_norm(x, self.w[p + "input_layernorm.weight"], cfg.rms_norm_eps)
            q = self._linear(h, p + "self_attn.q_proj", cfg.qkv_bias).view(B, T, nq, hd).transpose(1, 2)
            k = self._linear(h, p + "self_attn.k_proj", cfg.qkv_bias).view(B, T, nkv, hd).transpose(1, 2)
            v = self._linear(h, p + "self_attn.v_proj", cfg.qkv_bias).view(B, T, nkv, hd).transpose(1, 2)
            q = apply_rope(q, cos, sin, cfg.rope_style)
            k = apply_rope(k, cos, sin, cfg.rope_style)
            # GQA: query head h uses kv head h // (nq / nkv)  (= HF repeat_kv, llama2.c h / kv_mul)
            k = k.repeat_interleave(nq // nkv, dim=1)
            v = v.repeat_interleave(nq // nkv, dim=1)
            # softmax(q k^T / sqrt(hd) + causal mask) v, computed for blocks of queries: queries
            # [q0, q1) only see keys [0, q1), so the all-masked upper blocks are skipped (a speed
            # detail; the result is the same as one masked T x T softmax).
            o = torch.empty(B, nq, T, hd)
            for q0 in range(0, T, self.attn_block):
                q1 = min(T, q0 + self.attn_block)
                scores = torch.matmul(q[:, :, q0:q1], k[:, :, :q1].transpose(-1, -2)) * scale   # [B, nq, q1-q0, q1]
                scores.masked_fill_(~causal[q0:q1, :q1], float("-inf"))
                probs = torch.softmax(scores, dim=-1)
                o[:, :, q0:q1] = torch.matmul(probs, v[:, :, :q1])
            o = o.transpose(1, 2).reshape(B, T, nq * hd)
            x = x + self._linear(o, p + "self_attn.o_proj", cfg.o_bias)
            # --- SwiGLU MLP block
            h = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], cfg.rms_norm_eps)
            g = self._linear(h, p + "mlp.gate_proj", False)
            u = self._linear(h, p + "mlp.up_proj", False)
            x = x + self._linear(F.silu(g) * u, p + "mlp.down_proj", False)
        x = rms_norm(x, self.w["model.norm.weight"], cfg.rms_norm_eps)
        return self._linear(x, self.lm_head_name.rsplit(".", 1)[0], False)


# =============================================================================================
# llama2.c tokenizer (tok512.bin)
# =============================================================================================

class Llama2cTokenizer:
    """tokenizer.bin: int32 max_token_length; then per token: float32 score, int32 len, bytes."""

    def __init__(self, path, vocab_size):
        with open(path, "rb") as f:
            blob = f.read()
        (self.max_token_length,) = struct.unpack_from("<i", blob, 0)
        off = 4
        self.pieces = []
        self.scores = []
        for _ in range(vocab_size):
            score, n = struct.unpack_from("<fi", blob, off)
            off += 8
            self.pieces.append(blob[off:off + n])
            off += n
            self.scores.append(score)
        # str_lookup: bsearch over the sorted vocab (pieces are unique in tok512).
        self.lookup = {}
        for i, p in enumerate(self.pieces):
            self.lookup.setdefault(p, i)

    def _initial_tokens(self, text):
        """run.c encode() before merging: dummy prefix " " if text non-empty, then each UTF-8
        codepoint (at most 4 bytes) looked up as a piece, else byte fallback id = byte + 3."""
        tokens = []
        if len(text) > 0:
            tokens.append(self.lookup[b" "])
        buf = bytearray()
        n = len(text)
        for i in range(n):
            c = text[i]
            if (c & 0xC0) != 0x80:
                buf = bytearray()
            buf.append(c)
            nxt = text[i + 1] if i + 1 < n else 0
            if (nxt & 0xC0) == 0x80 and len(buf) < 4:
                continue
            tid = self.lookup.get(bytes(buf), -1)
            if tid != -1:
                tokens.append(tid)
            else:
                tokens.extend(b + 3 for b in buf)
            buf = bytearray()
        return tokens

    def encode_naive(self, text, bos=False, eos=False):
        """Literal transcription of run.c: repeatedly merge the adjacent pair whose concatenated
        piece exists with the highest score (leftmost on ties). O(n^2)."""
        tokens = self._initial_tokens(text)
        while True:
            best_score, best_id, best_idx = -1e10, -1, -1
            for i in range(len(tokens) - 1):
                tid = self.lookup.get(self.pieces[tokens[i]] + self.pieces[tokens[i + 1]], -1)
                if tid != -1 and self.scores[tid] > best_score:
                    best_score, best_id, best_idx = self.scores[tid], tid, i
            if best_idx == -1:
                break
            tokens[best_idx] = best_id
            del tokens[best_idx + 1]
        return ([1] if bos else []) + tokens + ([2] if eos else [])

    def encode(self, text, bos=False, eos=False):
        """Same result as encode_naive, in O(n log n): a doubly linked list of tokens and a heap of
        candidate merges keyed by (-score, original index of the left token). Original indices
        preserve list order, so the smallest key is the highest score, leftmost on ties, exactly
        the pair the naive scan picks. Stale heap entries are detected by re-checking adjacency
        and both token ids."""
        tokens = self._initial_tokens(text)
        n = len(tokens)
        nxt = list(range(1, n + 1))
        prv = list(range(-1, n - 1))
        alive = [True] * n
        pieces, scores, lookup = self.pieces, self.scores, self.lookup
        heap = []

        def push(i):
            if i < 0 or nxt[i] >= n:
                return
            j = nxt[i]
            tid = lookup.get(pieces[tokens[i]] + pieces[tokens[j]], -1)
            if tid != -1:
                heap.append((-scores[tid], i, j, tokens[i], tokens[j], tid))

        for i in range(n - 1):
            push(i)
        heapq.heapify(heap)

        def push_heap(i):
            before = len(heap)
            push(i)
            if len(heap) > before:
                item = heap.pop()
                heapq.heappush(heap, item)

        while heap:
            _, i, j, ti, tj, tid = heapq.heappop(heap)
            if not alive[i] or not alive[j] or nxt[i] != j or tokens[i] != ti or tokens[j] != tj:
                continue
            tokens[i] = tid
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] < n:
                prv[nxt[j]] = i
            if prv[i] >= 0:
                push_heap(prv[i])
            push_heap(i)
        out = [tokens[i] for i in range(n) if alive[i]]
        return ([1] if bos else []) + out + ([2] if eos else [])

    def decode_piece(self, prev_token, token):
        """run.c decode(): after BOS strip a leading space; '<0xXX>' pieces are raw bytes."""
        piece = self.pieces[token]
        if prev_token == 1 and piece[:1] == b" ":
            piece = piece[1:]
        m = re.match(rb"<0x([0-9A-Fa-f]{2})>", piece)
        if m:
            piece = bytes([int(m.group(1), 16)])
        return piece

    @staticmethod
    def safe_printf_filter(piece):
        """run.c safe_printf(): single bytes that are neither printable nor whitespace are dropped."""
        if len(piece) == 1:
            b = piece[0]
            if not (0x20 <= b < 0x7F or b in (0x09, 0x0A, 0x0B, 0x0C, 0x0D)):
                return b""
        return piece


# =============================================================================================
# Perplexity protocols
# =============================================================================================

BOS = 1


def score_windows(model, windows, batch, label):
    """windows: list of (input_ids list, first_scored_position, target ids list). Logits at
    position first+k predict targets[k]. Windows of equal length are batched. Returns the per-token
    NLL (float64, log_softmax of the fp32 logits computed in float64) in window order."""
    t0 = time.time()
    nll = [None] * len(windows)
    by_len = {}
    for wi, w in enumerate(windows):
        by_len.setdefault(len(w[0]), []).append(wi)
    done = 0
    for L, idxs in by_len.items():
        for b0 in range(0, len(idxs), batch):
            chunk = idxs[b0:b0 + batch]
            ids = torch.tensor([windows[wi][0] for wi in chunk], dtype=torch.long)
            logits = model.forward(ids)
            for r, wi in enumerate(chunk):
                _, first, tgt = windows[wi]
                lg = logits[r, first:first + len(tgt)].double()
                lp = torch.log_softmax(lg, dim=-1)
                nll[wi] = -lp.gather(1, torch.tensor(tgt, dtype=torch.long)[:, None])[:, 0]
            done += len(chunk)
            el = time.time() - t0
            print(f"\r  [{label}] {done}/{len(windows)} windows, {el:.1f} s", end="", flush=True)
    print()
    return torch.cat(nll).numpy(), time.time() - t0


def summarize(nll, ctx, n_stream, n_windows):
    # ppl = exp(nll_sum / n_scored); se = standard error of the mean per-token NLL
    # (sample std with ddof=1 / sqrt(n_scored)); ppl_err = ppl * se (first-order delta method).
    n = int(nll.size)
    s = float(nll.sum(dtype=np.float64))
    mean = s / n
    se = float(nll.std(ddof=1) / math.sqrt(n))
    ppl = math.exp(mean)
    return {"ctx": ctx, "n_tokens_in_stream": n_stream, "n_windows": n_windows, "n_scored": n,
            "nll_sum": s, "mean_nll": mean, "ppl": ppl, "se": se, "ppl_err": ppl * se}


def windows_full_window(T, ctx):
    # full-window: split T into consecutive non-overlapping pieces of ctx-1 tokens, dropping a final
    # incomplete piece. Window input = [BOS] + piece (ctx tokens). Every token of the piece is scored:
    # logits at position p (0..ctx-2) predict piece[p], i.e. from BOS + piece[:p].
    # ppl = exp(sum NLL / count); se = sample std of per-token NLL / sqrt(count); ppl_err = ppl * se.
    m = ctx - 1
    return [([BOS] + T[j * m:(j + 1) * m], 0, T[j * m:(j + 1) * m]) for j in range(len(T) // m)]


def windows_llama_cpp(T, ctx):
    # llama.cpp perplexity (tools/perplexity/perplexity.cpp): the file is tokenized with a BOS in
    # front, S = [BOS] + T; for j < floor(len(S)/ctx), chunk = S[j*ctx:(j+1)*ctx] with its first token
    # replaced by BOS; with first = ctx/2, logits at positions first .. ctx-2 predict chunk tokens
    # first+1 .. ctx-1 (ctx - 1 - ctx/2 tokens per chunk).
    S = [BOS] + T
    first = ctx // 2
    out = []
    for j in range(len(S) // ctx):
        chunk = [BOS] + S[j * ctx + 1:(j + 1) * ctx]
        out.append((chunk, first, chunk[first + 1:ctx]))
    return out


def windows_rolling(T, max_len, context_len=1, prefix=BOS):
    # lm-evaluation-harness loglikelihood_rolling: get_rolling_token_windows(T, prefix_token=BOS,
    # max_seq_len=max_len, context_len=1) followed by make_disjoint_window, then each (context,
    # continuation) pair is scored as input (context + continuation)[:-1] (truncated to the last
    # max_len tokens), scoring the continuation at the last len(continuation) positions.
    # First window: input [BOS] + T[:max_len-1] scores T[:max_len]. Later windows predict up to
    # pred_len = max_len - context_len + 1 new tokens each, with the preceding tokens as context, so
    # with context_len=1 they are non-overlapping windows of max_len tokens whose first token is
    # predicted from the single previous token; the last (shorter) window keeps max_len tokens of
    # input with a longer context. Every token of T is scored exactly once.
    out = []
    if not T:
        return out
    pred_len = max_len - context_len + 1
    first_len = min(max_len, len(T))
    pairs = [([prefix] + T[:first_len - 1], T[:first_len])]
    predicted = first_len
    while predicted < len(T):
        wpl = min(len(T) - predicted, pred_len)
        end = predicted + wpl
        pairs.append((T[max(0, end - max_len - 1):end - 1], T[end - wpl:end]))
        predicted += wpl
    for ctx_toks, cont in pairs:
        ctx_toks = ctx_toks[:len(ctx_toks) - (len(cont) - 1)]   # make_disjoint_window
        full = (ctx_toks + cont)[-(max_len + 1):][:-1]
        out.append((full, len(full) - len(cont), cont))
    return out


def cmd_stories_ppl(args):
    t_all = time.time()
    cfg, w = load_llama2c(os.path.join(args.data, "stories260K.bin"))
    model = Transformer(cfg, w, fast=not args.plain)
    print(f"projections via {'oneDNN' if model.fast else 'torch default BLAS'}")
    tok = Llama2cTokenizer(os.path.join(args.data, "tok512.bin"), cfg.vocab_size)
    with open(os.path.join(args.data, "tinystories-valid.txt"), "rb") as f:
        raw = f.read()
    doc = raw.decode("utf-8")
    t0 = time.time()
    T = tok.encode(raw)            # dummy prefix " ", no BOS / EOS; the whole file as one string
    t_tok = time.time() - t0
    print(f"tokenized {len(raw)} bytes -> {len(T)} tokens in {t_tok:.2f} s")
    t0 = time.time()
    probe = raw.decode("utf-8")[:2000].encode("utf-8")
    assert tok.encode(probe) == tok.encode_naive(probe), "heap encoder != naive encoder"
    print(f"heap == naive encoder on the first 2000 characters ({time.time() - t0:.2f} s)")

    ctx = args.ctx
    runs = [("full-window", ctx, windows_full_window(T, ctx),
             f"[BOS] + consecutive non-overlapping pieces of {ctx - 1} tokens (incomplete last piece "
             f"dropped); every piece token scored"),
            ("llama.cpp", ctx, windows_llama_cpp(T, ctx),
             f"S = [BOS] + T; chunks S[j*{ctx}:(j+1)*{ctx}], first token replaced by BOS; logits at positions "
             f"{ctx // 2}..{ctx - 2} predict tokens {ctx // 2 + 1}..{ctx - 1}"),
            ("rolling", ctx, windows_rolling(T, ctx),
             f"lm-eval loglikelihood_rolling, max_length={ctx}, context_len=1, prefix token BOS; "
             f"every token scored once")]
    if args.extra_ctx:
        # The same full-window protocol at a shorter context (data/README.md's "plain PyTorch
        # ~5.70" matches ctx=256), stored as "full-window@<ctx>" for comparison.
        c2 = args.extra_ctx
        runs.insert(1, (f"full-window@{c2}", c2, windows_full_window(T, c2),
                        f"as full-window with ctx={c2} (pieces of {c2 - 1} tokens)"))
    results, seconds = {}, {}
    for name, c, windows, definition in runs:
        nll, seconds[name] = score_windows(model, windows, max(1, args.batch * ctx // c), name)
        results[name] = {"definition": definition, **summarize(nll, c, len(T), len(windows))}
    r = results["rolling"]
    assert r["n_scored"] == len(T)
    words = len(re.split(r"\s+", doc))
    nbytes = len(raw)
    ll = -r["nll_sum"]
    r.update({"context_len": 1, "prefix_token": BOS, "words": words, "bytes": nbytes,
              "word_perplexity": math.exp(-ll / words), "byte_perplexity": math.exp(-ll / nbytes),
              "bits_per_byte": -ll / nbytes / math.log(2)})

    for k, v in results.items():
        print(f"{k:16s} ctx={v['ctx']} windows={v['n_windows']} scored={v['n_scored']} "
              f"ppl={v['ppl']:.6f} +- {v['ppl_err']:.6f} ({seconds[k]:.1f} s)")
    r = results["rolling"]
    print(f"rolling: word_perplexity={r['word_perplexity']:.6f} byte_perplexity={r['byte_perplexity']:.6f} "
          f"bits_per_byte={r['bits_per_byte']:.6f}")

    # Position-by-position forward reference: the first 64 inputs of the first full-window window.
    ids64 = ([BOS] + T[:ctx - 1])[:64]
    logits64 = model.forward(torch.tensor([ids64]))[0].numpy().astype(np.float32)

    out = {
        "model": "data/stories260K.bin",
        "tokenizer": "data/tok512.bin",
        "text": "data/tinystories-valid.txt",
        "tokenization": "llama2.c run.c encode(): dummy prefix ' ', whole file as one string, no BOS/EOS",
        "stream_length": len(T),
        "stream_first_64": T[:64],
        "compute": "fp32 forward (torch), log_softmax in float64, NLL sums in float64",
        "protocols": results,
    }
    os.makedirs(args.out, exist_ok=True)
    text = json.dumps(out, indent=1)
    text = re.sub(r"\[\s*([-0-9,\s]+?)\s*\]", lambda m: "[" + re.sub(r"\s+", "", m.group(1)).replace(",", ", ") + "]", text)
    with open(os.path.join(args.out, "stories260k_ppl.json"), "w") as f:
        f.write(text + "\n")
    np.save(os.path.join(args.out, "stories260k_logits.npy"), logits64)
    with open(os.path.join(args.out, "stories260k_logits_input.json"), "w") as f:
        json.dump({"input_ids": ids64,
                   "note": "[BOS] + first 63 tokens of the tinystories-valid.txt stream; "
                           "stories260k_logits.npy is float32 [64, 512], row p = logits at position p"}, f)
        f.write("\n")
    print(f"tokenize {t_tok:.1f} s, total {time.time() - t_all:.1f} s; wrote {args.out}/stories260k_*")


# =============================================================================================
# Greedy decoding check
# =============================================================================================

def cmd_greedy(args):
    t0 = time.time()
    cfg, w = load_llama2c(os.path.join(args.data, "stories260K.bin"))
    model = Transformer(cfg, w)
    tok = Llama2cTokenizer(os.path.join(args.data, "tok512.bin"), cfg.vocab_size)
    # run.c generate() with an empty prompt: tokens = [BOS]; each step feeds the sequence so far
    # and appends argmax of the last logits (first index on ties); stop early on BOS.
    seq = [BOS]
    out = bytearray()
    for _ in range(args.steps):
        logits = model.forward(torch.tensor([seq]))[0, -1].numpy()
        nxt = int(np.argmax(logits))
        if nxt == BOS:
            break
        out += tok.safe_printf_filter(tok.decode_piece(seq[-1], nxt))
        seq.append(nxt)
    text = bytes(out)
    sys.stdout.write(text.decode("utf-8", "replace") + "\n")
    with open(os.path.join(args.data, "stories260K-greedy200.txt"), "rb") as f:
        ref = f.read()
    ok = text == ref
    print(f"--- {len(seq) - 1} tokens generated in {time.time() - t0:.2f} s; "
          f"{'MATCHES' if ok else 'DIFFERS FROM'} stories260K-greedy200.txt ({len(text)} vs {len(ref)} bytes)")
    if not ok:
        k = next((i for i in range(min(len(text), len(ref))) if text[i] != ref[i]), min(len(text), len(ref)))
        print(f"first difference at byte {k}")
        return 1
    return 0


# =============================================================================================
# Synthetic fixtures
# =============================================================================================

def hf_config(kind, dtype, layers, tie):
    base = {
        "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": layers,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
        "max_position_embeddings": 2048, "hidden_act": "silu", "initializer_range": 0.02,
        "tie_word_embeddings": tie, "torch_dtype": dtype, "use_cache": True,
        "bos_token_id": 1, "eos_token_id": 2, "attention_dropout": 0.0,
    }
    if kind == "openpangu":
        c = {"architectures": ["PanguEmbeddedForCausalLM"], "model_type": "PanguEmbedded", "bias": True,
             "rope_theta": 4000000.0, "rms_norm_eps": 1e-05, "pad_token_id": 0, **base}
    elif kind == "llama":
        c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False,
             "mlp_bias": False, "head_dim": 16, "pretraining_tp": 1, "rope_scaling": None,
             "rope_theta": 10000.0, "rms_norm_eps": 1e-05, **base}
    elif kind == "qwen2":
        c = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "use_sliding_window": False,
             "sliding_window": None, "max_window_layers": layers, "rope_theta": 1000000.0,
             "rms_norm_eps": 1e-06, **base}
    else:
        raise ValueError(kind)
    c["transformers_version"] = "4.53.2"
    return c


def random_weights(cfg, seed):
    """Own random weights (fixed seed). Scales keep activations O(1): linear weights
    N(0, 1/fan_in), embedding / lm_head N(0, 0.3^2) (logit std ~ 2-3), norm weights 1 + N(0, 0.1^2),
    biases N(0, 0.2^2) so that a dropped bias visibly changes the logits."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std

    H, I, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    qd, kvd = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
    w = {"model.embed_tokens.weight": randn(V, H, std=0.3)}
    for l in range(cfg.num_layers):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1.0 + randn(H, std=0.1)
        w[p + "self_attn.q_proj.weight"] = randn(qd, H, std=H ** -0.5)
        w[p + "self_attn.k_proj.weight"] = randn(kvd, H, std=H ** -0.5)
        w[p + "self_attn.v_proj.weight"] = randn(kvd, H, std=H ** -0.5)
        w[p + "self_attn.o_proj.weight"] = randn(H, qd, std=qd ** -0.5)
        if cfg.qkv_bias:
            w[p + "self_attn.q_proj.bias"] = randn(qd, std=0.2)
            w[p + "self_attn.k_proj.bias"] = randn(kvd, std=0.2)
            w[p + "self_attn.v_proj.bias"] = randn(kvd, std=0.2)
        if cfg.o_bias:
            w[p + "self_attn.o_proj.bias"] = randn(H, std=0.2)
        w[p + "post_attention_layernorm.weight"] = 1.0 + randn(H, std=0.1)
        w[p + "mlp.gate_proj.weight"] = randn(I, H, std=H ** -0.5)
        w[p + "mlp.up_proj.weight"] = randn(I, H, std=H ** -0.5)
        w[p + "mlp.down_proj.weight"] = randn(H, I, std=I ** -0.5)
    w["model.norm.weight"] = 1.0 + randn(H, std=0.1)
    if not cfg.tie_word_embeddings:
        w["lm_head.weight"] = randn(V, H, std=0.3)
    return w


# A fixed, hand-picked sequence of 24 ids over the whole 300-id range (includes 0, 1, 2 and 299).
FIXTURE_TOKENS = [1, 17, 254, 3, 99, 0, 180, 42, 42, 7, 299, 123, 2, 88, 201, 150,
                  64, 33, 276, 5, 111, 222, 9, 298]

FIXTURES = [
    # name, kind, storage dtype, layers, tie, seed, shards
    ("openpangu_fp32", "openpangu", "float32", 2, True, 1001, 1),
    ("openpangu_bf16", "openpangu", "bfloat16", 2, True, 1001, 1),
    ("llama_fp32", "llama", "float32", 2, False, 2002, 1),
    ("llama_bf16", "llama", "bfloat16", 2, False, 2002, 1),
    ("qwen2_fp32", "qwen2", "float32", 2, True, 3003, 1),
    ("qwen2_bf16", "qwen2", "bfloat16", 2, True, 3003, 1),
    ("openpangu_untied_sharded_fp32", "openpangu", "float32", 2, False, 4004, 2),
]


def write_fixture(name, kind, dtype, layers, tie, seed, shards, out_root):
    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    cfg_json = hf_config(kind, dtype, layers, tie)
    cfg = config_from_hf(cfg_json)
    w = random_weights(cfg, seed)
    tdt = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    stored = {k: v.to(tdt) for k, v in w.items()}
    metadata = {"format": "pt"}
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), stored, metadata)
    else:
        # openPangu checkpoints also store rotary_emb.inv_freq per layer (loaders skip them).
        inv_freq = (1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.int64).float()
                                              / cfg.head_dim))).to(torch.float32)
        for l in range(cfg.num_layers):
            stored[f"model.layers.{l}.self_attn.rotary_emb.inv_freq"] = inv_freq.clone()

        def shard_of(n):
            m = re.match(r"model\.layers\.(\d+)\.", n)
            if n == "model.embed_tokens.weight" or (m and int(m.group(1)) < (cfg.num_layers + 1) // 2):
                return 1
            return 2

        weight_map, total = {}, 0
        for s in (1, 2):
            fname = f"model-{s:05d}-of-{shards:05d}.safetensors"
            part = {k: v for k, v in stored.items() if shard_of(k) == s}
            total += write_safetensors(os.path.join(d, fname), part, metadata)
            weight_map.update({k: fname for k in part})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total},
                       "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
            f.write("\n")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg_json, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "tokens.json"), "w") as f:
        json.dump({"input_ids": FIXTURE_TOKENS}, f)
        f.write("\n")
    # Logits from the files just written (re-read through the loader, bf16 upcast to fp32).
    model = Transformer(*load_hf(d))
    logits = model.forward(torch.tensor([FIXTURE_TOKENS]))[0].numpy().astype(np.float32)
    np.save(os.path.join(d, "logits.npy"), logits)
    probs = torch.softmax(torch.from_numpy(logits), -1)
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print(f"{name:32s} {size:8d} bytes  logits std {logits.std():.3f}  "
          f"mean max-prob {probs.max(-1).values.mean():.3f}  argmax {logits.argmax(-1)[:8].tolist()}...")
    return model, logits


def cmd_make_fixtures(args):
    t0 = time.time()
    os.makedirs(args.out, exist_ok=True)
    made = {}
    for spec in FIXTURES:
        made[spec[0]] = write_fixture(*spec, args.out)
    # Sensitivity: the fixtures must fail loudly if a loader drops a bias / the rope base / tying.
    m, ref = made["openpangu_fp32"]
    for what in ("o_bias", "qkv_bias"):
        cfg2 = ModelConfig(**{**m.cfg.__dict__, what: False})
        alt = Transformer(cfg2, m.w).forward(torch.tensor([FIXTURE_TOKENS]))[0].numpy()
        print(f"  openpangu_fp32 without {what}: max |dlogit| = {np.abs(alt - ref).max():.3f}")
    cfg2 = ModelConfig(**{**m.cfg.__dict__, "rope_theta": 10000.0})
    alt = Transformer(cfg2, m.w).forward(torch.tensor([FIXTURE_TOKENS]))[0].numpy()
    print(f"  openpangu_fp32 with rope_theta 1e4: max |dlogit| = {np.abs(alt - ref).max():.3f}")
    d = np.abs(made["openpangu_bf16"][1] - ref).max()
    print(f"  openpangu bf16 vs fp32 storage: max |dlogit| = {d:.4f}")
    total = 0
    for root, _, files in os.walk(args.out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"fixtures written to {args.out}: {total} bytes in total ({time.time() - t0:.1f} s)")


# =============================================================================================
# Self tests / misc commands
# =============================================================================================

def cmd_check_tokenizer(args):
    tok = Llama2cTokenizer(os.path.join(args.data, "tok512.bin"), 512)
    with open(os.path.join(args.data, "tinystories-valid.txt"), "rb") as f:
        text = f.read().decode("utf-8")
    samples = [text[:args.chars].encode("utf-8"), b"", b" ", b"a", b"  double  spaces\n\nnew",
               "naïve café — 你好 🙂 \u200a end".encode("utf-8"), b"\xff\xfe broken \x80 utf8 \xe2\x80",
               b"\xf0\x9f\x99\x82\x80\x80 overlong continuation"]
    for s in samples:
        t0 = time.time()
        a = tok.encode_naive(s)
        t1 = time.time()
        b = tok.encode(s)
        t2 = time.time()
        print(f"{len(s):6d} bytes -> {len(a):5d} tokens; naive {t1 - t0:.2f} s, heap {t2 - t1:.3f} s; "
              f"{'equal' if a == b else 'DIFFERENT'}")
        if a != b:
            return 1
    return 0


def hf_permute(w, n_heads):
    """HF convert_llama_weights_to_hf permute: interleaved-rope q/k rows -> rotate_half order."""
    out_dim, in_dim = w.shape
    return w.view(n_heads, out_dim // n_heads // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def cmd_self_test(args):
    ok = True
    cfg, w = load_llama2c(os.path.join(args.data, "stories260K.bin"))
    m1 = Transformer(cfg, w)
    ids = torch.tensor([[1, 400, 300, 450, 280, 290, 500, 260, 310, 420, 13, 270]])
    ref = m1.forward(ids)
    # 1. interleaved rope == rotate_half rope after HF's q/k row permutation.
    w2 = dict(w)
    for l in range(cfg.num_layers):
        p = f"model.layers.{l}.self_attn."
        w2[p + "q_proj.weight"] = hf_permute(w[p + "q_proj.weight"], cfg.num_heads)
        w2[p + "k_proj.weight"] = hf_permute(w[p + "k_proj.weight"], cfg.num_kv_heads)
    m2 = Transformer(ModelConfig(**{**cfg.__dict__, "rope_style": "half"}), w2)
    d = (m2.forward(ids) - ref).abs().max().item()
    print(f"interleaved vs permuted rotate_half: max |d| = {d:.2e}")
    ok &= d < 1e-4
    # 2. causality: logits at position t do not depend on later tokens; batch rows independent.
    for t in (1, 5, 11):
        d = (m1.forward(ids[:, :t + 1])[0, t] - ref[0, t]).abs().max().item()
        ok &= d < 1e-4
    ids2 = torch.cat([ids, ids.flip(1)])
    d = (m1.forward(ids2)[0] - ref[0]).abs().max().item()
    print(f"prefix / batch consistency: max |d| = {d:.2e}")
    ok &= d < 1e-4
    # 3. the oneDNN projection path and small attention blocks give the same logits.
    long_ids = torch.randint(0, cfg.vocab_size, (2, 300), generator=torch.Generator().manual_seed(5))
    a = m1.forward(long_ids)
    fast = Transformer(cfg, w, fast=True, attn_block=64)
    d = (fast.forward(long_ids) - a).abs().max().item()
    print(f"oneDNN={fast.fast}, attention blocks 64 vs 32: max |d| = {d:.2e}")
    ok &= d < 1e-4
    # 4. safetensors round trip (f32 / bf16 / f16 bit exact).
    import tempfile
    with tempfile.TemporaryDirectory() as td:
        g = torch.Generator().manual_seed(0)
        t = {"a": torch.randn(3, 5, generator=g), "b": torch.randn(7, generator=g).bfloat16(),
             "c": torch.randn(2, 2, generator=g).half()}
        write_safetensors(os.path.join(td, "x.safetensors"), t, {"format": "pt"})
        back, meta = read_safetensors(os.path.join(td, "x.safetensors"))
        rt = all(torch.equal(t[k], back[k]) and t[k].dtype == back[k].dtype for k in t)
        with open(os.path.join(td, "x.safetensors"), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
        rt &= n % 8 == 0 and meta == {"format": "pt"}
        print(f"safetensors round trip: {'ok' if rt else 'FAILED'}")
        ok &= rt
    print("self-test", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


def cmd_logits(args):
    model = load_model(args.model)
    ids = [int(x) for x in args.ids.split(",")]
    logits = model.forward(torch.tensor([ids]))[0].numpy().astype(np.float32)
    if args.save:
        np.save(args.save, logits)
    np.set_printoptions(precision=5, suppress=True, linewidth=140)
    print(logits[:, :8])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make-fixtures")
    p.add_argument("--out", default=FIXTURE_DIR)
    p = sub.add_parser("stories-ppl")
    p.add_argument("--data", default=DATA_DIR)
    p.add_argument("--out", default=FIXTURE_DIR)
    p.add_argument("--ctx", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--plain", action="store_true", help="do not use oneDNN for the projections")
    p.add_argument("--extra-ctx", type=int, default=256, help="also full-window at this ctx (0: off)")
    p = sub.add_parser("greedy")
    p.add_argument("--data", default=DATA_DIR)
    p.add_argument("--steps", type=int, default=200)
    p = sub.add_parser("check-tokenizer")
    p.add_argument("--data", default=DATA_DIR)
    p.add_argument("--chars", type=int, default=10000)
    p = sub.add_parser("self-test")
    p.add_argument("--data", default=DATA_DIR)
    p = sub.add_parser("logits")
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--save")
    args = ap.parse_args()
    torch.set_num_threads(max(1, args.threads))
    fn = {"make-fixtures": cmd_make_fixtures, "stories-ppl": cmd_stories_ppl, "greedy": cmd_greedy,
          "check-tokenizer": cmd_check_tokenizer, "self-test": cmd_self_test, "logits": cmd_logits}[args.cmd]
    return fn(args) or 0


if __name__ == "__main__":
    sys.exit(main())
