// JSON-lines task files: one JSON object per line; blank lines are ignored. Each reader parses one
// object into McItems and reports a bad line by throwing TaskLineError with the field and what was
// expected; read_jsonl_task() adds the file and line (InputError, exit 2) or counts the line as
// invalid under --skip-invalid. Invalid UTF-8 is rejected before JSON parsing.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "eval/mc_task.h"

namespace quantscope {

struct TaskLineError {
  std::string message;
};
[[noreturn]] void task_line_error(const std::string& message);

// parse(object, item) fills the item's choices/answer/group (line and file are set by the caller).
void read_jsonl_task(const std::string& path, const TaskReadOptions& options, McTask& task,
                     const std::function<void(const nlohmann::json&, McItem&)>& parse);

// Field access with messages that name the field.
const nlohmann::json& require_field(const nlohmann::json& o, const char* field);
std::string require_string(const nlohmann::json& o, const char* field, bool allow_empty = false);
// A list of non-empty strings with at least min_size entries.
std::vector<std::string> require_string_list(const nlohmann::json& o, const char* field, size_t min_size);
// An integer index given as a JSON integer or a string of digits (HF datasets store "label": "2");
// `base` is subtracted (1 for WinoGrande's "1"/"2"); must end in [0, n).
int require_index(const nlohmann::json& o, const char* field, int n, int base = 0);

}  // namespace quantscope
