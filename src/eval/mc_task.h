// Multiple-choice and minimal-pair tasks as the scorer sees them: every choice is a (context,
// continuation) pair scored by the summed log-likelihood of the continuation given the context.
// Most tasks share one context across choices (HellaSwag, ARC, PIQA); WinoGrande's partial scoring
// varies the context and keeps the continuation; BLiMP has an empty context (whole sentence after
// BOS); LAMBADA has one choice scored by whether greedy decoding reproduces it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quantscope {

struct McChoice {
  std::string context, continuation;
};

struct McItem {
  std::vector<McChoice> choices;
  int answer = 0;     // index into choices
  std::string group;  // BLiMP phenomenon (UID), or empty
  int64_t line = 0;   // 1-based line in its file
  std::string file;
};

enum class McMetric {
  Choice,  // acc (and acc_norm): argmax of the summed log-likelihood (first on ties, as numpy.argmax)
  Greedy,  // acc: every continuation token is the model's argmax (LAMBADA); also perplexity
};

struct McTask {
  std::string name;  // "blimp", "hellaswag", ...
  std::string path;
  McMetric metric = McMetric::Choice;
  bool report_acc_norm = false;  // lm-evaluation-harness reports acc_norm for this task
  std::vector<McItem> items;
  int64_t invalid = 0;  // malformed lines skipped under --skip-invalid
};

struct TaskReadOptions {
  int64_t limit = 0;  // items per file (BLiMP: per phenomenon file); 0 = all
  bool skip_invalid = false;
};

// Task kinds: blimp (a directory of *.jsonl or one file), hellaswag, arc (also arc-easy,
// arc-challenge), piqa, winogrande, lambada, mc (generic {context, choices, answer[, group]}).
bool is_mc_task_kind(const std::string& kind);
// Reads a task. Malformed lines raise InputError "file:line: field: what was expected" unless
// skip_invalid, which counts them in McTask::invalid.
McTask read_mc_task(const std::string& kind, const std::string& path, const TaskReadOptions& options);

}  // namespace quantscope
