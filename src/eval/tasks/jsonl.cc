#include "eval/tasks/jsonl.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/utf8.h"

namespace quantscope {

void task_line_error(const std::string& message) { throw TaskLineError{message}; }

void read_jsonl_task(const std::string& path, const TaskReadOptions& o, McTask& task,
                     const std::function<void(const nlohmann::json&, McItem&)>& parse) {
  const std::string text = read_text_file(path);
  int64_t line_no = 0, taken = 0;
  size_t pos = 0;
  while (pos < text.size() && (o.limit <= 0 || taken < o.limit)) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    try {
      if (!utf8_valid(line)) task_line_error("invalid UTF-8");
      nlohmann::json obj;
      try {
        obj = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        task_line_error(fmt::format("not valid JSON ({})", e.what()));
      }
      if (!obj.is_object()) task_line_error("expected a JSON object");
      McItem item;
      item.line = line_no;
      item.file = path;
      parse(obj, item);
      if (item.choices.empty()) task_line_error("no choices");
      if (item.answer < 0 || item.answer >= int(item.choices.size()))
        task_line_error(fmt::format("answer index {} outside 0..{}", item.answer, item.choices.size() - 1));
      task.items.push_back(std::move(item));
      ++taken;
    } catch (const TaskLineError& e) {
      if (!o.skip_invalid) fail_input("{}:{}: {} (pass --skip-invalid to skip malformed lines)", path, line_no, e.message);
      ++task.invalid;
    }
  }
}

const nlohmann::json& require_field(const nlohmann::json& o, const char* field) {
  auto it = o.find(field);
  if (it == o.end() || it->is_null()) task_line_error(fmt::format("field '{}' is missing", field));
  return *it;
}

std::string require_string(const nlohmann::json& o, const char* field, bool allow_empty) {
  const nlohmann::json& v = require_field(o, field);
  if (!v.is_string()) task_line_error(fmt::format("field '{}' must be a string, got {}", field, v.type_name()));
  std::string s = v.get<std::string>();
  if (!allow_empty && s.empty()) task_line_error(fmt::format("field '{}' is empty", field));
  return s;
}

std::vector<std::string> require_string_list(const nlohmann::json& o, const char* field, size_t min_size) {
  const nlohmann::json& v = require_field(o, field);
  if (!v.is_array()) task_line_error(fmt::format("field '{}' must be a list of strings, got {}", field, v.type_name()));
  if (v.size() < min_size)
    task_line_error(fmt::format("field '{}' has {} entries, need at least {}", field, v.size(), min_size));
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) task_line_error(fmt::format("field '{}'[{}] must be a string, got {}", field, i, v[i].type_name()));
    out.push_back(v[i].get<std::string>());
    if (out.back().empty()) task_line_error(fmt::format("field '{}'[{}] is an empty choice", field, i));
  }
  return out;
}

int require_index(const nlohmann::json& o, const char* field, int n, int base) {
  const nlohmann::json& v = require_field(o, field);
  int64_t idx = -1;
  if (v.is_number_integer()) {
    idx = v.get<int64_t>();
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
      task_line_error(fmt::format("field '{}' is '{}', expected an integer index", field, s));
    idx = std::stoll(s);
  } else {
    task_line_error(fmt::format("field '{}' must be an integer index, got {}", field, v.type_name()));
  }
  idx -= base;
  if (idx < 0 || idx >= n)
    task_line_error(fmt::format("field '{}' is {}, outside {}..{}", field, idx + base, base, n - 1 + base));
  return int(idx);
}

}  // namespace quantscope
