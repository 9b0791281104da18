// WinoGrande (Sakaguchi et al. 2019): {"sentence" with one "_", "option1", "option2", "answer":
// "1"|"2"}. Partial scoring as lm-evaluation-harness: the context is the sentence up to "_" with the
// option filled in, the continuation (same for both) is " " + the rest of the sentence stripped;
// only the continuation's log-likelihood counts, so the options' own probabilities do not. acc only.
#include "eval/tasks/jsonl.h"
#include "eval/tasks/readers.h"

namespace quantscope {

McTask read_winogrande(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.name = "winogrande";
  task.path = path;
  read_jsonl_task(path, o, task, [](const nlohmann::json& obj, McItem& item) {
    const std::string s = require_string(obj, "sentence");
    const size_t blank = s.find('_');
    if (blank == std::string::npos) task_line_error("field 'sentence' has no '_' blank to fill");
    std::string rest = s.substr(blank + 1);
    const size_t b = rest.find_first_not_of(" \t\n\r\f\v"), e = rest.find_last_not_of(" \t\n\r\f\v");
    rest = b == std::string::npos ? std::string() : rest.substr(b, e - b + 1);
    if (rest.empty()) task_line_error("field 'sentence' has nothing after the blank to score");
    for (const char* f : {"option1", "option2"}) item.choices.push_back({s.substr(0, blank) + require_string(obj, f), " " + rest});
    item.answer = require_index(obj, "answer", 2, 1);
  });
  return task;
}

}  // namespace quantscope
