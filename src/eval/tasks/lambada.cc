// LAMBADA (Paperno et al. 2016), lambada_openai layout: {"text"}. As lm-evaluation-harness: the
// context is the text up to its last space, the target " " + the last word; acc = whether greedy
// decoding reproduces every target token (is_greedy), plus the perplexity of the targets.
#include "eval/tasks/jsonl.h"
#include "eval/tasks/readers.h"

namespace quantscope {

McTask read_lambada(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.name = "lambada";
  task.path = path;
  task.metric = McMetric::Greedy;
  read_jsonl_task(path, o, task, [](const nlohmann::json& obj, McItem& item) {
    const std::string text = require_string(obj, "text");
    const size_t sp = text.rfind(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == text.size())
      task_line_error("field 'text' needs a context and a last word separated by a space");
    item.choices.push_back({text.substr(0, sp), " " + text.substr(sp + 1)});
    item.answer = 0;
  });
  return task;
}

}  // namespace quantscope
