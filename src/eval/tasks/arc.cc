// ARC-Easy / ARC-Challenge (Clark et al. 2018), Hugging Face allenai/ai2_arc layout:
// {"question", "choices": {"text": [...], "label": ["A", ...]}, "answerKey": "A"}. Prompt as
// lm-evaluation-harness: "Question: {question}\nAnswer:" then " {choice}"; acc and acc_norm.
#include <fmt/format.h>

#include "eval/tasks/jsonl.h"
#include "eval/tasks/readers.h"

namespace quantscope {

McTask read_arc(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.name = "arc";
  task.path = path;
  task.report_acc_norm = true;
  read_jsonl_task(path, o, task, [](const nlohmann::json& obj, McItem& item) {
    const std::string q = require_string(obj, "question");
    const nlohmann::json& ch = require_field(obj, "choices");
    if (!ch.is_object()) task_line_error("field 'choices' must be an object {text: [...], label: [...]}");
    const std::vector<std::string> text = require_string_list(ch, "text", 2);
    const std::vector<std::string> labels = require_string_list(ch, "label", 2);
    if (labels.size() != text.size())
      task_line_error(fmt::format("field 'choices': {} texts but {} labels", text.size(), labels.size()));
    const std::string key = require_string(obj, "answerKey");
    item.answer = -1;
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == key) item.answer = int(i);
    if (item.answer < 0) task_line_error(fmt::format("field 'answerKey' is '{}', not one of the choice labels", key));
    for (const std::string& t : text) item.choices.push_back({"Question: " + q + "\nAnswer:", " " + t});
  });
  return task;
}

}  // namespace quantscope
