// BLiMP (Warstadt et al. 2020): {"sentence_good", "sentence_bad", "UID", ...} per line, one file per
// phenomenon. Each pair is two choices with an empty context, so each sentence is scored whole after
// BOS — the paper's full-sentence method, as lm-evaluation-harness's blimp_* tasks (acc only).
#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "eval/tasks/jsonl.h"
#include "eval/tasks/readers.h"

namespace quantscope {

McTask read_blimp(const std::string& path, const TaskReadOptions& o) {
  McTask task;
  task.name = "blimp";
  task.path = path;
  std::vector<std::string> files;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(path, ec))
      if (e.is_regular_file() && e.path().extension() == ".jsonl") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) fail_input("{}: no *.jsonl files in the BLiMP directory", path);
  } else {
    files.push_back(path);
  }
  for (const std::string& f : files) {
    const std::string stem = std::filesystem::path(f).stem().string();
    read_jsonl_task(f, o, task, [&](const nlohmann::json& obj, McItem& item) {
      item.choices.push_back({"", require_string(obj, "sentence_good")});
      item.choices.push_back({"", require_string(obj, "sentence_bad")});
      item.answer = 0;
      auto uid = obj.find("UID");
      item.group = uid != obj.end() && uid->is_string() ? uid->get<std::string>() : stem;
    });
  }
  return task;
}

}  // namespace quantscope
