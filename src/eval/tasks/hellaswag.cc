// HellaSwag (Zellers et al. 2019), Hugging Face layout: {"activity_label", "ctx_a", "ctx_b",
// "endings": [4 strings], "label": int or "int"}. Query and endings preprocessed exactly as
// lm-evaluation-harness's hellaswag task (utils.py preprocess); choices follow the query after " ".
#include <cctype>
#include <regex>

#include "eval/tasks/jsonl.h"
#include "eval/tasks/readers.h"

namespace quantscope {

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

// strip, " [title]" -> ". ", drop "[...]" (non-greedy), "  " -> " " (one pass, as Python's replace)
std::string preprocess(std::string s) {
  const size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
  s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  replace_all(s, " [title]", ". ");
  static const std::regex brackets("\\[.*?\\]");
  s = std::regex_replace(s, brackets, "");
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ' && i + 1 < s.size() && s[i + 1] == ' ') {
      out += ' ';
      ++i;  // Python's str.replace("  ", " ") consumes both and does not rescan
    } else {
      out += s[i];
    }
  }
  return out;
}

// Python str.capitalize() for ASCII: first character upper, the rest lower (non-ASCII bytes kept).
std::string capitalize(std::string s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) s[i] = char(i == 0 ? std::toupper(c) : std::tolower(c));
  }
  return s;
}

}  // namespace

McTask read_hellaswag(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.name = "hellaswag";
  task.path = path;
  task.report_acc_norm = true;
  read_jsonl_task(path, o, task, [](const nlohmann::json& obj, McItem& item) {
    const std::string ctx = require_string(obj, "ctx_a", true) + " " + capitalize(require_string(obj, "ctx_b", true));
    const std::string query = preprocess(require_string(obj, "activity_label") + ": " + ctx);
    const std::vector<std::string> endings = require_string_list(obj, "endings", 2);
    for (const std::string& e : endings) item.choices.push_back({query, " " + preprocess(e)});
    item.answer = require_index(obj, "label", int(endings.size()));
  });
  return task;
}

}  // namespace quantscope
