// The generic layout for tasks added without code: {"context": string (may be empty),
// "choices": [non-empty strings, >= 2], "answer": index (int or digit string), "group": optional
// string}. Choices are appended to the context verbatim (include a leading space if the text needs
// one). acc and acc_norm.
#include "eval/tasks/jsonl.h"
#include "eval/tasks/readers.h"

namespace quantscope {

McTask read_generic_mc(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.name = "mc";
  task.path = path;
  task.report_acc_norm = true;
  read_jsonl_task(path, o, task, [](const nlohmann::json& obj, McItem& item) {
    const std::string ctx = require_string(obj, "context", true);
    const std::vector<std::string> choices = require_string_list(obj, "choices", 2);
    for (const std::string& c : choices) item.choices.push_back({ctx, c});
    item.answer = require_index(obj, "answer", int(choices.size()));
    auto g = obj.find("group");
    if (g != obj.end() && !g->is_null()) {
      if (!g->is_string()) task_line_error("field 'group' must be a string");
      item.group = g->get<std::string>();
    }
  });
  return task;
}

}  // namespace quantscope
