#!/usr/bin/env python3
"""Writes the libFuzzer seed corpora under fuzz/corpus/<target>/ (system python3, no packages).

Seeds are small valid files of each format (built here, byte by byte, from the format's layout so a
fuzzer starts deep inside the parser), the real small files of data/ and tests/fixtures/, and the
corrupt inputs the unit tests hand-craft (truncations, wrong lengths, JSON the tests feed the
parsers). Every seed is kept small: a fuzzer mutates bytes, it does not need whole checkpoints.
Re-running rewrites the same files (random tensors come from a fixed seed).
"""
import argparse
import json
import random
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "corpus"
rng = random.Random(10)


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def floats(n, scale=0.1):
    return struct.pack(f"<{n}f", *[rng.uniform(-scale, scale) for _ in range(n)])


def f16(x):
    return struct.pack("<e", x)


# --- safetensors -------------------------------------------------------------------------------
def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, bytes). Returns the file bytes."""
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def seed_safetensors():
    ok = safetensors([("a", "F32", [2, 3], floats(6)), ("b", "BF16", [4], b"\x80\x3f" * 4),
                      ("c", "F16", [1, 2], f16(1.0) * 2)], {"format": "pt"})
    put("safetensors", "valid.safetensors", ok)
    put("safetensors", "truncated.safetensors", ok[: len(ok) - 5])
    put("safetensors", "header_len_past_end.safetensors", struct.pack("<Q", 1 << 40) + ok[8:])
    put("safetensors", "overlap.safetensors",
        safetensors([("a", "F32", [2], floats(2)), ("b", "F32", [2], b"")]).replace(b"[8, 8]", b"[0, 8]"))
    put("safetensors", "shape_mismatch.safetensors", safetensors([("a", "F32", [3], floats(2))]))
    put("safetensors", "empty_header.safetensors", struct.pack("<Q", 2) + b"{}")
    # The real header of a reference checkpoint, with its data cut short (structure, not bytes).
    real = (ROOT / "tests/fixtures/reference/llama_bf16/model.safetensors").read_bytes()
    n = struct.unpack("<Q", real[:8])[0]
    put("safetensors", "llama_bf16_header_only.safetensors", real[: 8 + n + 64])

    shard = "model-00001-of-00001.safetensors"
    put("safetensors_index", "valid.json", json.dumps({"metadata": {"total_size": 8}, "weight_map": {"a": shard}}))
    put("safetensors_index", "missing_shard.json", json.dumps({"weight_map": {"a": "model-00002-of-00002.safetensors"}}))
    put("safetensors_index", "traversal.json", json.dumps({"weight_map": {"a": "../" + shard}}))
    put("safetensors_index", "extra_tensor.json", json.dumps({"weight_map": {"a": shard, "b": shard}}))
    put("safetensors_index", "no_weight_map.json", json.dumps({"metadata": {}}))
    put("safetensors_index", "openpangu_untied_sharded.json",
        (ROOT / "tests/fixtures/reference/openpangu_untied_sharded_fp32/model.safetensors.index.json").read_bytes())


# --- GGUF ------------------------------------------------------------------------------------------
GG_U32, GG_F32, GG_STRING, GG_ARRAY, GG_I32 = 4, 6, 8, 9, 5
GGML = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 8, "BF16": 30}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gkv(key, vtype, value):
    out = gstr(key) + struct.pack("<I", vtype)
    if vtype == GG_U32:
        return out + struct.pack("<I", value)
    if vtype == GG_F32:
        return out + struct.pack("<f", value)
    if vtype == GG_STRING:
        return out + gstr(value)
    etype, items = value
    out += struct.pack("<IQ", etype, len(items))
    for it in items:
        out += gstr(it) if etype == GG_STRING else struct.pack("<f" if etype == GG_F32 else "<i", it)
    return out


def ggml_data(kind, rows, cols):
    if kind == "F32":
        return floats(rows * cols)
    if kind == "F16":
        return b"".join(f16(rng.uniform(-0.1, 0.1)) for _ in range(rows * cols))
    blocks = rows * cols // 32
    out = b""
    for _ in range(blocks):
        if kind == "Q8_0":
            out += f16(0.01) + bytes(rng.randrange(256) for _ in range(32))
        elif kind == "Q4_0":
            out += f16(0.01) + bytes(rng.randrange(256) for _ in range(16))
        else:  # Q4_1
            out += f16(0.01) + f16(-0.05) + bytes(rng.randrange(256) for _ in range(16))
    return out


def gguf(with_vocab):
    H, F, V, C = 32, 64, 16, 16
    tensors = [("token_embd.weight", "F32", V, H), ("output_norm.weight", "F32", 1, H),
               ("blk.0.attn_norm.weight", "F32", 1, H), ("blk.0.attn_q.weight", "Q8_0", H, H),
               ("blk.0.attn_k.weight", "F16", H, H), ("blk.0.attn_v.weight", "Q4_0", H, H),
               ("blk.0.attn_output.weight", "Q4_1", H, H), ("blk.0.ffn_norm.weight", "F32", 1, H),
               ("blk.0.ffn_gate.weight", "Q8_0", F, H), ("blk.0.ffn_up.weight", "F32", F, H),
               ("blk.0.ffn_down.weight", "Q8_0", H, F)]
    kvs = [gkv("general.architecture", GG_STRING, "llama"), gkv("llama.embedding_length", GG_U32, H),
           gkv("llama.block_count", GG_U32, 1), gkv("llama.feed_forward_length", GG_U32, F),
           gkv("llama.attention.head_count", GG_U32, 2), gkv("llama.attention.head_count_kv", GG_U32, 2),
           gkv("llama.context_length", GG_U32, C), gkv("llama.attention.layer_norm_rms_epsilon", GG_F32, 1e-5),
           gkv("general.alignment", GG_U32, 32)]
    if with_vocab:
        kvs += [gkv("tokenizer.ggml.tokens", GG_ARRAY, (GG_STRING, [f"t{i}" for i in range(V)])),
                gkv("tokenizer.ggml.scores", GG_ARRAY, (GG_F32, [float(-i) for i in range(V)])),
                gkv("tokenizer.ggml.token_type", GG_ARRAY, (GG_I32, [1] * V))]
    infos, data = b"", b""
    for name, kind, rows, cols in tensors:
        data += b"\0" * (-len(data) % 32)
        ne = [cols] if rows == 1 else [cols, rows]
        infos += gstr(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        infos += struct.pack("<IQ", GGML[kind], len(data))
        data += ggml_data(kind, rows, cols)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    return head + b"\0" * (-len(head) % 32) + data


def seed_gguf():
    for with_vocab in (False, True):
        g = gguf(with_vocab)
        tag = "vocab" if with_vocab else "plain"
        put("gguf", f"llama_{tag}.gguf", g)
    put("gguf", "truncated.gguf", g[: len(g) // 2])
    put("gguf", "v1.gguf", b"GGUF" + struct.pack("<III", 1, 0, 0))
    put("gguf", "huge_count.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 1 << 62))
    put("gguf", "bad_magic.gguf", b"GGUX" + g[4:64])


# --- llama2.c ----------------------------------------------------------------------------------------
def llama2c(version, shared):
    D, F, L, NH, KV, V, S = 8, 16, 1, 2, 2, 16, 8
    hs2 = D // NH // 2
    kvd = D * KV // NH
    if version == 0:
        head = struct.pack("<7i", D, F, L, NH, KV, V if shared else -V, S)
        sizes = [V * D, L * D, L * D * D, L * kvd * D, L * kvd * D, L * D * D, L * D, L * F * D, L * D * F,
                 L * F * D, D, S * hs2, S * hs2]
    else:
        head = struct.pack("<Ii7iB", 0x616B3432, 1, D, F, L, NH, KV, V, S, 1 if shared else 0)
        head += b"\0" * (256 - len(head))
        sizes = [L * D, L * D, D, V * D, L * D * D, L * kvd * D, L * kvd * D, L * D * D, L * F * D, L * D * F,
                 L * F * D]
    if not shared:
        sizes.append(V * D)
    return head + b"".join(floats(n) for n in sizes)


def seed_llama2c():
    for version in (0, 1):
        for shared in (True, False):
            put("llama2c", f"v{version}_{'shared' if shared else 'unshared'}.bin", llama2c(version, shared))
    ok = llama2c(0, True)
    put("llama2c", "truncated.bin", ok[: len(ok) - 7])
    put("llama2c", "zero_heads.bin", struct.pack("<7i", 8, 16, 1, 0, 0, 16, 8) + ok[28:])
    put("llama2c", "stories260K_head.bin", (ROOT / "data/stories260K.bin").read_bytes()[:4096])


# --- tokenizers --------------------------------------------------------------------------------------
def seed_tokenizers():
    tok = (ROOT / "data/tok512.bin").read_bytes()
    put("llama2c_tokenizer", "tok512.bin", tok)
    put("llama2c_tokenizer", "truncated.bin", tok[:1000])
    put("llama2c_tokenizer", "negative_length.bin", struct.pack("<ifi", 8, 0.0, -5) + b"abc")
    put("llama2c_tokenizer", "too_long_piece.bin", struct.pack("<ifi", 2, 0.0, 9) + b"abcdefghi")
    sp = (ROOT / "tests/fixtures/tokenizer/sp_bpe500.model").read_bytes()
    put("sentencepiece", "sp_bpe500.model", sp)
    put("sentencepiece", "truncated.model", sp[: len(sp) // 3])
    put("sentencepiece", "not_a_model.model", b"this is not a protobuf")
    for name in ("hf_gpt2.json", "hf_llama3.json", "hf_qwen2.json"):
        put("tokenizer_json", name, (ROOT / "tests/fixtures/tokenizer" / name).read_bytes())
    put("tokenizer_json", "truncated.json", (ROOT / "tests/fixtures/tokenizer/hf_gpt2.json").read_bytes()[:3000])
    put("tokenizer_json", "unsupported_model.json", json.dumps({"model": {"type": "WordPiece", "vocab": {}}}))


# --- JSON configs, recipes, tasks -----------------------------------------------------------------
def seed_json():
    for d in sorted((ROOT / "tests/fixtures/reference").iterdir()):
        if (d / "config.json").exists():
            put("hf_config", d.name + ".json", (d / "config.json").read_bytes())
    base = json.loads((ROOT / "tests/fixtures/reference/llama_fp32/config.json").read_text())
    for field, value in (("num_attention_heads", 0), ("hidden_size", -64), ("rope_scaling", {"type": "linear"}),
                         ("vocab_size", 1 << 40), ("architectures", ["GPT2LMHeadModel"])):
        put("hf_config", f"bad_{field}.json", json.dumps({**base, field: value}))
    # Every JSON literal the recipe tests feed parse_recipe: valid recipes and each refused field.
    test = (ROOT / "tests/unit/test_quant_recipe.cc").read_text()
    for i, text in enumerate(re.findall(r'R"\((\{.*?\})\)"', test, re.S)):
        put("recipe", f"test_{i:02d}.json", text)
    for f in sorted((ROOT / "tests/fixtures/eval").glob("*.jsonl")):
        put("task_jsonl", f.name, f.read_bytes())
    blimp = sorted((ROOT / "data/blimp").glob("*.jsonl"))
    if blimp:
        put("task_jsonl", "blimp_head.jsonl", b"".join(blimp[0].read_bytes().splitlines(True)[:5]))


# --- study specs and results stores ---------------------------------------------------------------
# fuzz_study_spec creates model.bin, tok.bin, text.txt, blimp/ and r.json beside the spec it parses;
# the bundled studies are rewritten to name those, so their paths resolve and the fields after them are
# reached.
def study_for_fuzzer(spec):
    spec["models"] = ["model.bin"] * len(spec.get("models", []))
    if "tokenizer" in spec:
        spec["tokenizer"] = "tok.bin"
    if "calibration" in spec:
        spec["calibration"]["files"] = ["text.txt"] * len(spec["calibration"].get("files", []))
    if "files" in spec.get("recipes", {}):
        spec["recipes"]["files"] = ["r.json"] * len(spec["recipes"]["files"])
    for t in spec.get("tasks", []):
        if "text" in t:
            t["text"] = "text.txt"
        if "path" in t:
            t["path"] = "blimp" if t.get("kind") == "blimp" else "text.txt"
    return spec


def seed_study(quantscope):
    for f in sorted((ROOT / "studies").glob("*.json")):
        spec = study_for_fuzzer(json.loads(f.read_text()))
        put("study_spec", f.name, json.dumps(spec, indent=1))
    tiny = study_for_fuzzer(json.loads((ROOT / "studies/tiny.json").read_text()))
    put("study_spec", "recipe_files.json", json.dumps({**tiny, "recipes": {"files": ["r.json"]}}))
    put("study_spec", "bad_bits.json", json.dumps({**tiny, "recipes": {"grid": [{"methods": ["rtn"], "bits": ["W9A3"]}]}}))
    put("study_spec", "missing_model.json", json.dumps({**tiny, "models": ["absent.bin"]}))
    # A real store: the baseline cell of stories260K on the host, one small perplexity task.
    if not quantscope or not Path(quantscope).exists():
        print(f"results_store: no quantscope binary ({quantscope}); build it and pass --quantscope")
        return
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"name": "seed", "models": [str(ROOT / "data/stories260K.bin")], "tokenizer": str(ROOT / "data/tok512.bin"),
                "seeds": [0], "baseline": True, "recipes": {"grid": []}, "targets": ["host"],
                "tasks": [{"kind": "ppl", "text": str(ROOT / "data/tinystories-valid.txt"), "ctx": 32, "windows": 2}],
                "threads": 1}
        (Path(tmp) / "seed.json").write_text(json.dumps(spec))
        db = Path(tmp) / "seed.db"
        subprocess.run([quantscope, "study", "run", str(Path(tmp) / "seed.json"), "--db", str(db)], check=True,
                       stdout=subprocess.DEVNULL)
        put("results_store", "baseline_ppl.db", db.read_bytes())
        put("results_store", "not_sqlite.db", b"SQLite format 2\0" + b"\0" * 84)
        put("results_store", "empty.db", b"")


# --- AscendV1 ----------------------------------------------------------------------------------------
# A tiny openPangu-Embedded (2 layers, hidden 32, random weights) quantized with every AscendV1 kind
# (W8A8 static per tensor, W8A8_DYNAMIC, W4A16 per group of 16, C8 KV cache) and exported: its config
# and weights become fuzz/ascend_v1_base/ (fixed), its description the seed fuzz_ascend_v1 mutates.
ASCEND_RECIPE = {
    "default": {"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": True, "a_bits": 8,
                "a_granularity": "tensor"},
    "overrides": [{"match": "lm_head", "scheme": {"method": "none"}},
                  {"match": "mlp_down", "scheme": {"a_bits": 8, "a_granularity": "token"}},
                  {"match": "mlp_up", "layers": [1],
                   "scheme": {"a_bits": 0, "w_bits": 4, "granularity": "group", "group_size": 16}}],
    "kv_cache": {"bits": 8, "granularity": "channel"},
}


def seed_ascend_v1(quantscope):
    if not quantscope or not Path(quantscope).exists():
        print(f"ascend_v1: no quantscope binary ({quantscope}); build it and pass --quantscope")
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        run = lambda *args: subprocess.run([quantscope, *map(str, args)], check=True, stdout=subprocess.DEVNULL)
        run("synth", "--arch", "openpangu-embedded-1b", "--layers", 2, "--hidden", 32, "--heads", 2, "--kv-heads", 1,
            "--intermediate", 64, "--vocab", 512, "--out", t / "src")
        (t / "r.json").write_text(json.dumps(ASCEND_RECIPE))
        run("quantize", t / "src", "--recipe", t / "r.json", "--calib", ROOT / "data/tinystories-valid.txt",
            "--tokenizer", ROOT / "data/tok512.bin", "--out", t / "q")
        run("export", "--format", "ascend-v1", t / "q", "--out", t / "av")
        base = ROOT / "fuzz" / "ascend_v1_base"
        base.mkdir(exist_ok=True)
        for name in ("config.json", "quant_model_weights.safetensors"):
            (base / name).write_bytes((t / "av" / name).read_bytes())
        desc = (t / "av" / "quant_model_description.json").read_bytes()
        put("ascend_v1", "exported.json", desc)
        d = json.loads(desc)
        d["model.layers.0.self_attn.q_proj.weight"] = "W4A4"
        put("ascend_v1", "unknown_type.json", json.dumps(d))
        put("ascend_v1", "truncated.json", desc[: len(desc) // 2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quantscope", default=str(ROOT / "build/src/quantscope"),
                    help="binary that writes the results-store seed (skipped when absent)")
    a = ap.parse_args()
    seed_study(a.quantscope)
    seed_ascend_v1(a.quantscope)
    seed_safetensors()
    seed_gguf()
    seed_llama2c()
    seed_tokenizers()
    seed_json()
    for d in sorted(OUT.iterdir()):
        total = sum(f.stat().st_size for f in d.iterdir())
        print(f"{d.name:20s} {len(list(d.iterdir())):3d} seeds {total:8d} bytes")
        if total > 200_000:
            sys.exit(f"{d}: seeds over 200 KB")


if __name__ == "__main__":
    main()
