#!/usr/bin/env python3
"""Regenerates docs/results/stories260k-sensitivity.md (issue 8): where quantization hurts stories260K and
what a per-target mixed-precision search makes of it, with the real commands:
  quantscope ref data/stories260K.bin --text TEXT --ctx 512 --max-windows W --out REF
  quantscope sensitivity data/stories260K.bin --scheme S --ref REF --target T1,T2,... --calib TEXT ... --json OUT
  quantscope search data/stories260K.bin --ref REF --budget-bits B --target T --out R.json --json OUT
  quantscope search data/stories260K.bin --ref REF --budget bytes=X|decode-tok-s=Y --target T --out R.json --json OUT
Every KLD is measured against the fp32 host reference over the same windows, with its standard error.
Usage: scripts/make_sensitivity_table.py [path/to/quantscope]   (stdlib only; ~10 minutes on 2 cores)"""
import json, math, os, subprocess, sys, tempfile

QS = sys.argv[1] if len(sys.argv) > 1 else "build/src/quantscope"
MODEL, TOK, TEXT = "data/stories260K.bin", "data/tok512.bin", "data/tinystories-valid.txt"
WINDOWS = os.environ.get("QS_SENS_WINDOWS", "24")
SCHEME = {"method": "rtn", "w_bits": 4, "group_size": 32}
TARGETS = ["host", "ascend-910b1", "nvidia-h100", "nvidia-rtx4090"]
CALIB = ["--calib", TEXT, "--nsamples", "16", "--seqlen", "256", "--seed", "0"]
SEARCH_TARGETS = ["host", "ascend-910b1"]
# Bits budgets: 6.5, then exactly the average bits of the uniform W3 and W4 candidates (read from the 6.5
# search's candidate list, + 1e-6 for rounding), so a searched recipe is compared with a uniform one at the
# same average bits.
FIXED_BUDGET = 6.5
# GPTQ candidates (the search quantizes each with the calibration set, as `quantscope quantize` would).
GPTQ_CANDIDATES = [{"method": "gptq", "w_bits": 8, "granularity": "channel"}] + \
    [{"method": "gptq", "w_bits": b, "group_size": 32} for b in (4, 3, 2)]
# The cheap proxies `quantscope sensitivity` reports (JSON key, heading), as src/analysis/sensitivity.h lists them.
PROXIES = [("weight_error", "weight error"), ("output_error", "output error"), ("hessian_trace", "Hessian trace"),
           ("hessian_weighted_error", "tr(H)/K x weight err^2"), ("act_outlier_ratio", "activation outlier ratio")]
# Budgets in the target's own units (stored bytes of the decoder linears on the target; roofline-projected
# batch-1 decode tok/s at the model's full context), each between the target's cheapest and dearest
# uniform candidates.
# The same bytes budgets on both targets (their scales differ: fp32 on the host, bf16 on ascend-910b1),
# and one decode-speed budget each (the targets' speeds differ by orders of magnitude).
BYTES_BUDGETS = ["bytes=180K", "bytes=200K"]
TARGET_BUDGETS = [(t, b) for b in BYTES_BUDGETS for t in SEARCH_TARGETS] + \
    [("host", "decode-tok-s=26000"), ("ascend-910b1", "decode-tok-s=2.4M")]


def run(args, refusable=False):
    r = subprocess.run([QS] + args, capture_output=True, text=True)
    if r.returncode != 0 and not (refusable and r.returncode == 2):
        sys.exit(f"{' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r


def search(tmp, ref, target, budget_args, name, budget):
    """One `quantscope search`: its JSON, or {target, budget, refused} when it exits 2 (budget out of reach)."""
    out = os.path.join(tmp, f"search-{name}.json")
    r = run(["search", MODEL, "--tokenizer", TOK, "--ref", ref, "--target", target, "--out",
             os.path.join(tmp, f"recipe-{name}.json"), "--json", out, "-q"] + budget_args, refusable=True)
    if r.returncode == 2:
        return {"target": target, "budget": budget, "refused": r.stderr.strip().split("error: ")[-1]}
    return json.load(open(out))


def scheme_counts(s):
    counts = {}
    for d in s["choices"].values():
        counts[d] = counts.get(d, 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


def bits_rows(searches):
    """Rows of the bits-budget table: what each search chose and every candidate applied uniformly."""
    for s in searches:
        if "refused" in s:
            print(f"| {s['target']} | {s['budget']['value']} | - | refused (exit 2): {s['refused']} | - | - |")
            continue
        uni = "; ".join(f"{c['describe']} ({c['bits']:.4f}): " +
                        (f"{c['uniform_kld']['mean']:.4f} +/- {c['uniform_kld']['se']:.4f}" if "uniform_kld" in c
                         else "refused") for c in s["candidates"])
        print(f"| {s['target']} | {s['budget']['value']} | {s['bits']:.4f} | {s['measured_kld']['mean']:.4f} +/- "
              f"{s['measured_kld']['se']:.4f} ({s['predicted_kld']:.4f}) | {scheme_counts(s)} | {uni} |")


def same_bits_verdicts(searches, method):
    """One sentence per search whose budget is a uniform candidate's bits: searched vs that uniform KLD."""
    out = []
    for s in searches:
        if "refused" in s:
            continue
        for c in s["candidates"]:
            if "uniform_kld" in c and c["describe"].startswith(method) and abs(c["bits"] - s["budget"]["value"]) < 1e-5:
                se = math.hypot(s["measured_kld"]["se"], c["uniform_kld"]["se"])
                z = (c["uniform_kld"]["mean"] - s["measured_kld"]["mean"]) / se if se > 0 else float("inf")
                out.append(f"{s['target']} at {s['budget']['value']:.4f} bits: searched {s['measured_kld']['mean']:.4f} "
                           f"vs uniform {c['describe']} {c['uniform_kld']['mean']:.4f} (difference / combined SE "
                           f"= {z:.1f})")
    return "; ".join(out)


def recipe_differences(groups):
    """'at LABEL the A and B recipes differ in n of N tensors' for each (LABEL, searches) whose two searches both ran."""
    out = []
    for label, group in groups:
        rs = [s for s in group if "refused" not in s]
        if len(rs) == 2:
            a, b = rs
            n = sum(1 for k in a["choices"] if a["choices"][k] != b["choices"][k])
            out.append(f"at {label} the {a['target']} and {b['target']} recipes differ in {n} of {len(a['choices'])} "
                       "tensors")
    return "; ".join(out)


def fmt_rho(v):
    return "n/a" if v is None else f"{v:+.2f}"


def main():
    tmp = tempfile.mkdtemp(prefix="qs-sens-")
    ref = os.path.join(tmp, "s.ref")
    run(["ref", MODEL, "--tokenizer", TOK, "--text", TEXT, "--ctx", "512", "--max-windows", WINDOWS, "--out", ref, "-q"])
    sj = os.path.join(tmp, "sens.json")
    run(["sensitivity", MODEL, "--tokenizer", TOK, "--scheme", json.dumps(SCHEME), "--ref", ref, "--target",
         ",".join(TARGETS), "--json", sj, "-q"] + CALIB)
    sens = json.load(open(sj))
    def bits_search(t, b, extra=(), tag=""):
        return search(tmp, ref, t, ["--budget-bits", repr(b)] + list(extra), f"{t}-{b}{tag}", {"kind": "bits", "value": b})

    first = bits_search("host", FIXED_BUDGET)
    uniform_bits = {c["describe"]: c["bits"] for c in first["candidates"]}
    budgets = [round(uniform_bits[f"rtn w{w} g32 asym"] + 1e-6, 6) for w in (3, 4)] + [FIXED_BUDGET]
    searches = [first if (t, b) == ("host", FIXED_BUDGET) else bits_search(t, b)
                for b in budgets for t in SEARCH_TARGETS]
    gptq = ["--candidates", json.dumps(GPTQ_CANDIDATES)] + CALIB
    gptq_searches = [bits_search("host", b, gptq, "-gptq") for b in budgets[:2]]
    target_searches = [search(tmp, ref, t, ["--budget", b], f"{t}-{b}", {"kind": b.split("=")[0], "value": b})
                       for t, b in TARGET_BUDGETS]
    commit = run(["--version"]).stdout.strip()
    res = sens["results"]
    p = print
    p("# Where quantization hurts stories260K, per target, and searched mixed-precision recipes")
    p()
    p(f"Generated by `scripts/make_sensitivity_table.py` (quantscope {commit}). Reference: the fp32 model on the host, "
      f"{WINDOWS} windows of 512 tokens of `{TEXT}` (full-window protocol). KLD in nats per token, +/- one standard "
      "error. stories260K has 5 layers of 7 linears (dim 64, hidden 172, so groups of 32 leave a ragged group of 12 "
      "in down_proj).")
    p()
    p(f"## Sensitivity: one tensor at a time at `{res[0]['scheme']}`")
    p()
    p("Each row is the model with only that tensor quantized, run under each target's numerics "
      "(`quantscope sensitivity --unit tensor`). The proxies come from the host quantizer and 16 x 256 calibration "
      "tokens, so they are the same for every target. w_err: relative weight error ||W - Q(W)||/||W||; out_err: "
      "relative output error on the calibration inputs; tr H: trace of GPTQ's Hessian H = 2/N sum x x^T over the "
      "linear's N calibration input tokens (activation^2); tr(H)/K w_err^2: the HAWQ-V2-style proxy, mean Hessian "
      "diagonal times ||W - Q(W)||_F^2 (output^2); outlier: max over input channels of max|x_c| divided by the mean "
      "over channels of rms(x_c).")
    p()
    p("| tensor | " + " | ".join(f"KLD {r['target']}" for r in res) + " | w_err | out_err | tr H | tr(H)/K w_err^2 | "
      "outlier |")
    p("|---" * (len(res) + 6) + "|")
    for i, u in enumerate(res[0]["units"]):
        cells = [f"{r['units'][i]['kld']['mean']:.5f} +/- {r['units'][i]['kld']['se']:.5f}" for r in res]
        p(f"| {u['unit'].replace('model.layers.', 'L').replace('.weight', '')} | " + " | ".join(cells) +
          f" | {u['weight_error']:.4f} | {u['output_error']:.4f} | {u['hessian_trace']:.4g} | "
          f"{u['hessian_weighted_error']:.4g} | {u['act_outlier_ratio']:.2f} |")
    p()
    p("### Rolled up (sums of the tensor KLDs: an additive approximation, errors combined as independent)")
    p()
    p("| group | " + " | ".join(r["target"] for r in res) + " |")
    p("|---" * (len(res) + 1) + "|")
    for key in ["by_block", "by_role", "by_layer"]:
        for i, g in enumerate(res[0][key]):
            p(f"| {g['group']} | " + " | ".join(f"{r[key][i]['kld']:.4f} +/- {r[key][i]['se']:.4f}" for r in res) + " |")
    p()
    p("### Can a cheap proxy stand in for the measurement? Does the ranking move between targets?")
    p()
    n = len(res[0]["units"])
    # Two-sided 5% threshold for |rho| under no association, by Fisher's z (normal approximation).
    crit = math.tanh(1.96 / math.sqrt(n - 3))
    p(f"Spearman rank correlation over the {n} tensors of the measured KLD with each proxy, per target "
      f"(|rho| above {crit:.2f} is significant at 5% under no association, by Fisher's z):")
    p()
    p("| target | " + " | ".join(h for _, h in PROXIES) + " |")
    p("|---" * (len(PROXIES) + 1) + "|")
    for r in res:
        p(f"| {r['target']} | " + " | ".join(fmt_rho(r["spearman"][k]) for k, _ in PROXIES) + " |")
    p()
    for r in res:
        ranked = sorted(((r["spearman"][k], h) for k, h in PROXIES if r["spearman"][k] is not None), reverse=True)
        p(f"- {r['target']}: best {ranked[0][1]} ({fmt_rho(ranked[0][0])}), then {ranked[1][1]} "
          f"({fmt_rho(ranked[1][0])}); worst {ranked[-1][1]} ({fmt_rho(ranked[-1][0])}).")
    p()
    p("Rank agreement of the tensor KLDs between targets (Spearman):")
    p()
    for a in sens["target_agreement"]:
        p(f"- {a['a']} vs {a['b']}: {fmt_rho(a['spearman'])}")
    p()
    p("## Mixed-precision search per target")
    p()
    p("`quantscope search --budget-bits B --target T` with the default candidates (RTN W8 per channel, W4/W3/W2 in "
      "groups of 32, asymmetric, fp32 scales and zero points: their bits include that overhead). Each candidate is "
      "also measured uniformly. The first two budgets are the uniform W3 and W4 candidates' own bits, so the searched "
      "recipe there is compared with a uniform recipe at the same average bits.")
    p()
    p("| target | budget bits | searched bits | searched KLD (predicted: sum of tensor KLDs) | tensors per scheme | "
      "uniform candidates (bits: KLD) |")
    p("|---|---|---|---|---|---|")
    bits_rows(searches)
    p()
    diff = recipe_differences([(f"{b} bits", [s for s in searches if s["budget"]["value"] == b]) for b in budgets])
    p("At the same average bits: " + same_bits_verdicts(searches, "rtn") + ".")
    p()
    p("Between targets: " + diff + ".")
    p()
    p("### With GPTQ candidates")
    p()
    p("The same search on the host with GPTQ W8 per channel and W4/W3/W2 in groups of 32 as candidates (each "
      "quantized with 16 x 256 calibration tokens, as for the proxies), at the uniform W3 and W4 bits:")
    p()
    p("| target | budget bits | searched bits | searched KLD (predicted: sum of tensor KLDs) | tensors per scheme | "
      "uniform candidates (bits: KLD) |")
    p("|---|---|---|---|---|---|")
    bits_rows(gptq_searches)
    p()
    p("At the same average bits: " + same_bits_verdicts(gptq_searches, "gptq") + ".")
    p()
    p("## Searches under a bytes or a decode-speed budget")
    p()
    p("`quantscope search --budget bytes=X --target T` bounds the stored bytes of the decoder linears on the target "
      "(packed codes plus scales and zero points in the dtype the target's kernels take: fp32 on the host, as the "
      "recipe says; the activation dtype, bf16, on ascend-910b1). `--budget decode-tok-s=Y` requires the recipe's "
      "roofline-projected batch-1 decode speed on the target (`targets/roofline.h`, an upper bound, not a measurement) "
      "to be at least Y, at the model's full context of 512 positions (the KV cache is read in fp32 on the host, bf16 "
      "on ascend-910b1). Same default candidates; each row lists what the searched recipe spends in all three units, "
      "and every usable candidate applied uniformly with its bytes, projected tok/s and measured KLD.")
    p()
    p("| target | budget | searched: bits / bytes / decode tok/s (bound) | searched KLD (predicted) | tensors per scheme | "
      "uniform candidates (bytes, tok/s: KLD) |")
    p("|---|---|---|---|---|---|")
    for s in target_searches:
        if "refused" in s:
            p(f"| {s['target']} | {s['budget']['value']} | - | refused (exit 2): {s['refused']} | - | - |")
            continue
        uni = "; ".join(f"{c['describe']} ({c['bytes']:.0f} B, {c['decode_tok_s']:.0f} tok/s): "
                        f"{c['uniform_kld']['mean']:.4f} +/- {c['uniform_kld']['se']:.4f}"
                        for c in s["candidates"] if "uniform_kld" in c)
        budget = f"{s['budget']['kind']}={s['budget']['value']:g}"
        p(f"| {s['target']} | {budget} | {s['bits']:.3f} / {s['bytes']:.0f} / {s['decode_tok_s']:.0f} "
          f"({s['decode_bound']}) | {s['measured_kld']['mean']:.4f} +/- {s['measured_kld']['se']:.4f} "
          f"({s['predicted_kld']:.4f}) | {scheme_counts(s)} | {uni} |")
    p()
    by_budget = [(b, [s for (_, tb), s in zip(TARGET_BUDGETS, target_searches) if tb == b]) for b in BYTES_BUDGETS]
    p("Between targets under the same bytes budget: " + recipe_differences(by_budget) + ".")


if __name__ == "__main__":
    main()
