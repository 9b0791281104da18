// Everything a report shows, gathered from one results store into one JSON document. The HTML page,
// report.md, the CSV files and report.json are all renderings of it (report_writer.h), so they never
// disagree. Fields (units: bytes, tokens/s, nats, bits per weight):
//   study, store, generated (UTC), tool {version, commit}
//   runs         [{run_id, study, command_line, commit, version, host, started, ended}]
//   cells        [{key, model, recipe, method, w_bits, a_bits, granularity, group_size, seed, target, task,
//                  status, reason, metrics {name: {value, error, count, protocol}}, provenance {...}}]
//   configs      one per (model, recipe, seed, target) that ran: {model, recipe, method, w_bits, a_bits,
//                  seed, target, bits, weight_bytes, proj_decode_tok_s, proj_prefill_tok_s (0 when the
//                  store lacks them), quality {"TASK/METRIC": {value, error}}}
//   pareto       [{model, target, quality, cost, front: [config indices by cost]}]: KLD against weight bytes
//   sensitivity  [{model, recipe, seed, target, task, layer, role, attention, kld, error}]
//   differences  every pair of targets that ran the same (model, recipe, seed, task) on ppl / kld / acc:
//                  [{model, recipe, seed, task, metric, target_a, target_b, value_a, error_a, value_b,
//                    error_b, diff (b - a), z, p, p_holm, significant (p_holm < 0.05)}]
//   refused      [{model, recipe, target, reason, cells}]
// Non-finite numbers (a collapsed W4A4 perplexity) are kept as the strings "nan", "inf", "-inf": JSON
// has no such numbers, and a report must show them rather than drop them.
#pragma once

#include <nlohmann/json.hpp>

#include "study/results_store.h"

namespace quantscope {

nlohmann::json gather_report(ResultsStore& store);

// A number for the report's JSON: finite values as numbers, the rest as "nan" / "inf" / "-inf".
nlohmann::json report_number(double v);

}  // namespace quantscope
