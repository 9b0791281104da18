// PIQA (Bisk et al. 2020): {"goal", "sol1", "sol2", "label": 0|1}. Prompt as lm-evaluation-harness:
// "Question: {goal}\nAnswer:" then " {sol}"; acc and acc_norm.
#include "eval/tasks/jsonl.h"
#include "eval/tasks/readers.h"

namespace quantscope {

McTask read_piqa(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.name = "piqa";
  task.path = path;
  task.report_acc_norm = true;
  read_jsonl_task(path, o, task, [](const nlohmann::json& obj, McItem& item) {
    const std::string ctx = "Question: " + require_string(obj, "goal") + "\nAnswer:";
    item.choices.push_back({ctx, " " + require_string(obj, "sol1")});
    item.choices.push_back({ctx, " " + require_string(obj, "sol2")});
    item.answer = require_index(obj, "label", 2);
  });
  return task;
}

}  // namespace quantscope
