#!/usr/bin/env python3
"""Runs the release `quantscope` on every bad-input and fault case and writes docs/results/robustness.md.

    python3 scripts/make_robustness_table.py [--bin build/src/quantscope] [--out docs/results/robustness.md]

Each case builds its input in a fresh scratch directory (from data/ and tests/fixtures/, corrupted
here), runs one command under a 60 s timeout, and records the first line of stderr, the exit code
and what the command left on disk. The rules every case is held to:
  - bad input (a file, field, flag or recipe that is wrong) exits 2 with one line naming it;
  - an environment fault (disk full, file size limit) exits 1 with one line (src/core/error.h);
  - nothing crashes (signal), hangs (timeout) or leaves output that looks complete: a quantized
    directory holding quant_description.json, an output file under its final name, or a *.tmp.* file.
The disk-full cases mount small tmpfs file systems, so they need root (they are skipped otherwise);
the unreadable-file case runs the binary as user `nobody`, because root ignores file permissions.
Exit status 1 when any case breaks a rule (the table says which).
"""
import argparse
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "data/stories260K.bin"
TOK = ROOT / "data/tok512.bin"
HF = ROOT / "tests/fixtures/reference/llama_fp32"
GGUF_SEED = ROOT / "fuzz/corpus/gguf/llama_plain.gguf"
STORE_SEED = ROOT / "fuzz/corpus/results_store/baseline_ppl.db"
TIMEOUT = 60
RTN_W4 = {"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32}}


class Case:
    def __init__(self, name, kind, setup, args, outputs=(), needs_root=False, as_nobody=False, env=None,
                 rlimits=None):
        self.name, self.kind, self.setup, self.args = name, kind, setup, args
        self.outputs = outputs  # paths (relative to the scratch dir) the command would write
        self.needs_root, self.as_nobody = needs_root, as_nobody
        self.env = env or {}  # added to the environment
        self.rlimits = rlimits or {}  # resource -> limit, as `ulimit -v` / `ulimit -f`


# --- inputs -------------------------------------------------------------------------------------
def copy_model(d, name="model.bin"):
    shutil.copy(MODEL, d / name)
    shutil.copy(TOK, d / "tok512.bin")
    return d / name


def patch(path, offset, raw):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(raw)


def truncate(path, keep):
    with open(path, "r+b") as f:
        f.truncate(keep)


def hf_dir(d):
    shutil.copytree(HF, d / "hf", ignore=shutil.ignore_patterns("*.npy"))
    return d / "hf"


def safetensors_data_offset(path, tensor):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return 8 + n + json.loads(raw[8 : 8 + n])[tensor]["data_offsets"][0]


def write(d, name, text):
    (d / name).write_text(text if isinstance(text, str) else json.dumps(text))


# llama2.c legacy layout of stories260K: 28-byte header, token embedding [512, 64], rms_att [5, 64], wq...
EMB_OFFSET = 28
WQ_OFFSET = 28 + 4 * (512 * 64 + 5 * 64)


def sparse_llama2c(d, name):
    """A legacy llama2.c header for a ~3.5 GB model, and a sparse file of exactly that size: a model
    larger than the memory the command is allowed, without using the disk."""
    D, F, L, H, V, S = 2048, 5632, 16, 16, 32000, 256
    floats = V * D + L * (2 * D + 4 * D * D + 3 * F * D) + D + S * (D // H // 2) * 2
    with open(d / name, "wb") as f:
        f.write(struct.pack("<7i", D, F, L, H, H, V, S))
        f.truncate(28 + 4 * floats)


def make_fifo(d, name):
    os.mkfifo(d / name)


def tiny_study():
    """One baseline cell of stories260K on the host, a small perplexity task."""
    return {"name": "tiny", "models": [str(MODEL)], "tokenizer": str(TOK), "seeds": [0], "baseline": True,
            "recipes": {"grid": []}, "targets": ["host"],
            "tasks": [{"kind": "ppl", "text": str(ROOT / "data/tinystories-valid.txt"), "ctx": 32, "windows": 2}],
            "threads": 1}


def cases():
    c = []
    add = lambda *a, **k: c.append(Case(*a, **k))
    # llama2.c checkpoints
    add("llama2c truncated", "bad input", lambda d: truncate(copy_model(d), 100000), "info model.bin")
    add("llama2c header: zero heads", "bad input", lambda d: patch(copy_model(d), 12, struct.pack("<i", 0)), "info model.bin")
    add("llama2c NaN in the embedding", "bad input",
        lambda d: patch(copy_model(d), EMB_OFFSET + 4 * 1000, struct.pack("<f", float("nan"))), "info model.bin")
    add("llama2c +Inf in layer 0 wq", "bad input",
        lambda d: patch(copy_model(d), WQ_OFFSET + 4 * 7, struct.pack("<f", float("inf"))), "info model.bin")
    add("empty file as a model", "bad input", lambda d: (d / "model.bin").write_bytes(b""), "info model.bin")
    # safetensors (Hugging Face directory)
    add("safetensors truncated", "bad input",
        lambda d: truncate(hf_dir(d) / "model.safetensors", 200000), "info hf")
    add("safetensors header length past the end", "bad input",
        lambda d: patch(hf_dir(d) / "model.safetensors", 0, struct.pack("<Q", 1 << 40)), "info hf")
    add("safetensors header not JSON", "bad input",
        lambda d: patch(hf_dir(d) / "model.safetensors", 8, b"#"), "info hf")
    add("safetensors NaN in q_proj", "bad input",
        lambda d: patch(hf_dir(d) / "model.safetensors",
                        safetensors_data_offset(d / "hf/model.safetensors", "model.layers.0.self_attn.q_proj.weight") + 8,
                        struct.pack("<f", float("nan"))), "info hf")
    add("config.json missing a required field", "bad input",
        lambda d: write(hf_dir(d), "config.json",
                        {k: v for k, v in json.loads((HF / "config.json").read_text()).items() if k != "hidden_size"}),
        "info hf")
    add("config.json unsupported feature (rope_scaling)", "bad input",
        lambda d: write(hf_dir(d), "config.json",
                        {**json.loads((HF / "config.json").read_text()), "rope_scaling": {"type": "linear", "factor": 2}}),
        "info hf")
    # GGUF
    add("GGUF truncated", "bad input",
        lambda d: (d / "m.gguf").write_bytes(GGUF_SEED.read_bytes()[:3000]), "info m.gguf")
    add("GGUF tensor count 2^62", "bad input",
        lambda d: (shutil.copy(GGUF_SEED, d / "m.gguf"), patch(d / "m.gguf", 8, struct.pack("<Q", 1 << 62))),
        "info m.gguf")
    add("GGUF version 1", "bad input",
        lambda d: (shutil.copy(GGUF_SEED, d / "m.gguf"), patch(d / "m.gguf", 4, struct.pack("<I", 1))), "info m.gguf")
    # tokenizers
    add("llama2.c tokenizer truncated", "bad input",
        lambda d: (copy_model(d), (d / "tok.bin").write_bytes(TOK.read_bytes()[:3000])),
        "generate model.bin --tokenizer tok.bin --prompt hi -n 2")
    add("tokenizer.json truncated", "bad input",
        lambda d: (copy_model(d), (d / "tokenizer.json").write_bytes(
            (ROOT / "tests/fixtures/tokenizer/hf_gpt2.json").read_bytes()[:5000])),
        "generate model.bin --tokenizer tokenizer.json --prompt hi -n 2")
    add("SentencePiece model corrupt", "bad input",
        lambda d: (copy_model(d), (d / "tokenizer.model").write_bytes(b"not a protobuf at all")),
        "generate model.bin --tokenizer tokenizer.model --prompt hi -n 2")
    # recipes
    rc = "recipe check r.json model.bin"
    add("recipe not JSON", "bad input", lambda d: (copy_model(d), write(d, "r.json", "{\"default\": ")), rc)
    add("recipe w_bits 0", "bad input", lambda d: (copy_model(d), write(d, "r.json", {"default": {"w_bits": 0}})), rc)
    add("recipe unknown field", "bad input", lambda d: (copy_model(d), write(d, "r.json", {"default": {"w_bitz": 4}})), rc)
    add("recipe unknown method", "bad input",
        lambda d: (copy_model(d), write(d, "r.json", {"default": {"method": "magic"}})), rc)
    add("recipe pattern matches nothing", "bad input",
        lambda d: (copy_model(d), write(d, "r.json", {"overrides": [{"match": "attn_z", "scheme": {}}]})), rc)
    add("recipe group size larger than K", "bad input",
        lambda d: (copy_model(d), write(d, "r.json", {"default": {"method": "rtn", "w_bits": 4, "granularity": "group",
                                                                  "group_size": 4096}})), rc)
    add("recipe a target refuses (W3 on Ascend 910B1)", "bad input",
        lambda d: (copy_model(d), write(d, "r.json", {"default": {"method": "rtn", "w_bits": 3, "granularity": "channel"}})),
        "targets check r.json model.bin --target ascend-910b1")
    add("task JSONL answer index out of range", "bad input",
        lambda d: (copy_model(d), shutil.copy(ROOT / "tests/fixtures/eval/bad_answer_index.jsonl", d / "t.jsonl")),
        "eval model.bin --tasks mc:t.jsonl")
    add("calibration text empty", "bad input",
        lambda d: (copy_model(d), write(d, "r.json", {"default": {"method": "gptq", "w_bits": 4}}), write(d, "c.txt", "")),
        "quantize model.bin --recipe r.json --calib c.txt --out q", outputs=("q",))
    # study specs, results stores, AscendV1 directories
    add("study spec with a number that overflows a double", "bad input",
        lambda d: write(d, "s.json", '{"name": 66e666666666666666}'), "study plan s.json")
    add("results store not SQLite", "bad input", lambda d: write(d, "s.db", "not a database, just text\n" * 200),
        "results query s.db")
    add("results store damaged (pages 2-3 overwritten)", "bad input",
        lambda d: (shutil.copy(STORE_SEED, d / "s.db"), patch(d / "s.db", 4096, b"\xa5" * 8192)), "results query s.db")
    add("report of a file that is not a store", "bad input", lambda d: write(d, "s.db", "not a database, just text\n" * 200),
        "report s.db --out rep", outputs=("rep",))
    add("report of a damaged store", "bad input",
        lambda d: (shutil.copy(STORE_SEED, d / "s.db"), patch(d / "s.db", 4096, b"\xa5" * 8192)), "report s.db --out rep",
        outputs=("rep",))
    add("AscendV1 description with a number that overflows a double", "bad input",
        lambda d: (shutil.copytree(ROOT / "fuzz/ascend_v1_base", d / "av"),
                   write(d / "av", "quant_model_description.json", '{"model_quant_type": 1e999}')), "inspect av")
    add("AscendV1 description entry of an unknown type", "bad input",
        lambda d: (shutil.copytree(ROOT / "fuzz/ascend_v1_base", d / "av"),
                   write(d / "av", "quant_model_description.json",
                         {**json.loads((ROOT / "fuzz/corpus/ascend_v1/exported.json").read_text()),
                          "model.layers.0.self_attn.q_proj.weight": "W4A4"})), "inspect av")
    # missing and unreadable files
    add("model file missing", "bad input", lambda d: None, "info nothing.bin")
    add("recipe file missing", "bad input", lambda d: copy_model(d), "recipe check none.json model.bin")
    add("calibration file missing", "bad input",
        lambda d: (copy_model(d), write(d, "r.json", {"default": {"method": "gptq", "w_bits": 4}})),
        "quantize model.bin --recipe r.json --calib none.txt --out q", outputs=("q",))
    add("tokenizer file missing", "bad input", lambda d: copy_model(d),
        "generate model.bin --tokenizer none.bin --prompt hi -n 2")
    add("model file unreadable (mode 000, run as nobody)", "bad input",
        lambda d: (copy_model(d), os.chmod(d / "model.bin", 0)), "info model.bin", as_nobody=True)
    add("recipe is a directory", "bad input", lambda d: (copy_model(d), (d / "r.json").mkdir()), rc)
    add("model is a FIFO with no writer", "bad input", lambda d: make_fifo(d, "model.bin"), "info model.bin")
    add("recipe is a FIFO with no writer", "bad input", lambda d: (copy_model(d), make_fifo(d, "r.json")), rc)
    add("output directory is a file", "bad input",
        lambda d: (copy_model(d), write(d, "r.json", RTN_W4), write(d, "q", "x")),
        "quantize model.bin --recipe r.json --out q")
    add("model larger than memory, mmap disabled (2 GiB address space)", "bad input",
        lambda d: sparse_llama2c(d, "big.bin"), "info big.bin", env={"QUANTSCOPE_NO_MMAP": "1"},
        rlimits={resource.RLIMIT_AS: 2 << 30})
    add("unknown flag", "bad input", lambda d: copy_model(d), "info model.bin --no-such-flag")
    # resource faults: disk full while writing the quantized model
    add("disk full: 64 KiB tmpfs for the quantized model", "fault",
        lambda d: (copy_model(d), write(d, "r.json", RTN_W4), mount_tmpfs(d / "mnt", 64 * 1024)),
        "quantize model.bin --recipe r.json --out mnt/q", outputs=("mnt/q",), needs_root=True)
    add("disk full: room for the weights, not the description", "fault",
        lambda d: (copy_model(d), write(d, "r.json", RTN_W4), mount_tmpfs(d / "mnt", weights_only_room(d))),
        "quantize model.bin --recipe r.json --out mnt/q", outputs=("mnt/q",), needs_root=True)
    add("file size limit (ulimit -f 64 KiB) while writing the quantized model", "fault",
        lambda d: (copy_model(d), write(d, "r.json", RTN_W4)), "quantize model.bin --recipe r.json --out q",
        outputs=("q",), rlimits={resource.RLIMIT_FSIZE: 64 * 1024})
    add("disk full: 16 KiB tmpfs for the results store", "fault",
        lambda d: (write(d, "s.json", tiny_study()), mount_tmpfs(d / "mnt", 16 * 1024)),
        "study run s.json --db mnt/s.db", outputs=("mnt/s.db",), needs_root=True)
    add("disk full: logits .npy", "fault",
        lambda d: (copy_model(d), mount_tmpfs(d / "mnt", 16 * 1024)),
        "logits model.bin --tokens 1,5,9,20,30,40,50,60 --out mnt/l.npy", outputs=("mnt/l.npy",), needs_root=True)
    return c


# --- tmpfs --------------------------------------------------------------------------------------------
MOUNTS = []


def mount_tmpfs(path, size):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    MOUNTS.append(path)


def weights_only_room(d):
    """tmpfs size (whole pages) that holds this recipe's model.safetensors but not one more page:
    measured by quantizing once to ordinary disk, so it follows the format as it changes."""
    probe = d / "probe"
    subprocess.run([BIN, "quantize", str(d / "model.bin"), "--recipe", str(d / "r.json"), "--out", str(probe)],
                   check=True, capture_output=True)
    weights = (probe / "model.safetensors").stat().st_size
    description = (probe / "quant_description.json").stat().st_size
    shutil.rmtree(probe)
    if description <= 4096:
        raise RuntimeError("the description fits in the spare page; this case would not fail where intended")
    return (weights + 4095) // 4096 * 4096 + 4096


# --- running -------------------------------------------------------------------------------------------
def left_on_disk(d, case):
    found = []
    for rel in case.outputs:
        p = d / rel
        if p.is_dir():
            found += [f"{rel}/{f.name}" for f in sorted(p.iterdir())]
        elif p.exists():
            found.append(rel)
    found += [str(f.relative_to(d)) for f in d.rglob("*.tmp.*") if str(f.relative_to(d)) not in found]
    return found


def looks_complete(d, case, leftovers):
    """After a failed run: a temp file, a quantized directory's description, or an output file under
    its final name would each be taken for a finished result."""
    if any(".tmp." in f or f.endswith("quant_description.json") for f in leftovers):
        return True
    return any((d / rel).is_file() for rel in case.outputs)


def run_case(case, bin_path):
    d = Path(tempfile.mkdtemp(prefix="qs-robust-"))
    try:
        if case.as_nobody:
            os.chmod(d, 0o755)
        case.setup(d)
        argv = [bin_path] + case.args.split()
        if case.as_nobody:
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] + argv
        try:
            def limits():
                for r, n in case.rlimits.items():
                    resource.setrlimit(r, (n, n))

            # subprocess restores SIGXFSZ to its default in the child: as from a shell.
            p = subprocess.run(argv, cwd=d, capture_output=True, text=True, errors="replace", timeout=TIMEOUT,
                               env={**os.environ, **case.env}, preexec_fn=limits)
            code, err = p.returncode, message_of(p)
        except subprocess.TimeoutExpired:
            code, err = None, f"(no exit within {TIMEOUT} s)"
        leftovers = left_on_disk(d, case)
        problems = []
        if code is None:
            problems.append("hangs")
        elif code < 0:
            problems.append(f"killed by signal {-code}")
        elif case.kind == "bad input" and code != 2:
            problems.append(f"exit {code}, expected 2")
        elif case.kind == "fault" and code != 1:
            problems.append(f"exit {code}, expected 1 (an environment fault, src/core/error.h)")
        if looks_complete(d, case, leftovers):
            problems.append("leaves a partial file")
        return code, err, leftovers, problems
    finally:
        for m in reversed(MOUNTS):
            subprocess.run(["umount", str(m)], check=False)
        MOUNTS.clear()
        subprocess.run(["rm", "-rf", str(d)], check=False)


def message_of(p):
    """The line a user reads: the CLI's own "quantscope: ..." error line (progress lines also go to
    stderr), else the last stderr line, else stdout's last line (a refusal table ends with its verdict)."""
    err = [l for l in p.stderr.splitlines() if l.strip()]
    for line in err:
        if line.startswith("quantscope:"):
            return line
    if err:
        return err[-1]
    out = [l for l in p.stdout.splitlines() if l.strip()]
    return ("(stdout) " + out[-1]) if out else ""


def md(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build/src/quantscope"))
    ap.add_argument("--out", default=str(ROOT / "docs/results/robustness.md"))
    a = ap.parse_args()
    BIN = str(Path(a.bin).resolve())
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.strip()
    rows, bad = [], 0
    for case in cases():
        if case.needs_root and os.geteuid() != 0:
            rows.append((case, "-", "skipped: needs root to mount a tmpfs", [], []))
            continue
        code, err, leftovers, problems = run_case(case, BIN)
        bad += bool(problems)
        rows.append((case, code, err, leftovers, problems))
        print(f"{'BUG ' if problems else 'ok  '} {case.name}: exit {code}: {err[:100]}", flush=True)
    lines = [
        "# Robustness: bad input and faults",
        "",
        f"Generated by `scripts/make_robustness_table.py` with `{version}` (`{BIN}`; checkout at {commit}). Each case builds its",
        "input in a scratch directory from `data/` and `tests/fixtures/` and runs one command there (60 s limit).",
        "Bad input must exit 2 with one line naming the file and field or byte offset; a fault (disk full, file",
        "size limit) must exit 1 (`src/core/error.h`: an environment fault); nothing may crash, hang, or leave output that looks complete (a quantized directory with",
        "`quant_description.json`, an output under its final name, a `*.tmp.*` file).",
        "Disk full is a tmpfs of the stated size; the unreadable file runs the binary as `nobody` (root ignores",
        "file permissions); the model larger than memory is a sparse file under an address-space limit.",
        "",
        "| case | kind | command | exit | first line of stderr | left on disk | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for case, code, err, leftovers, problems in rows:
        verdict = "**BUG: " + ", ".join(problems) + "**" if problems else "ok"
        cmd = ("(as nobody) " if case.as_nobody else "") + "quantscope " + case.args
        left = ", ".join(f"`{f}`" for f in leftovers) or "nothing"
        lines.append(f"| {md(case.name)} | {case.kind} | `{md(cmd)}` | {code} | {md(err)} | {left} | {verdict} |")
    lines.append("")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines))
    print(f"wrote {a.out}: {len(rows)} cases, {bad} breaking a rule")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
