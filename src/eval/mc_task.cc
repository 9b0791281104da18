#include "eval/mc_task.h"

#include "core/error.h"
#include "eval/tasks/readers.h"

namespace quantscope {

bool is_mc_task_kind(const std::string& k) {
  return k == "blimp" || k == "hellaswag" || k == "arc" || k == "arc-easy" || k == "arc-challenge" || k == "piqa" ||
         k == "winogrande" || k == "lambada" || k == "mc";
}

McTask read_mc_task(const std::string& kind, const std::string& path, const TaskReadOptions& o) {
  McTask t;
  if (kind == "blimp") t = read_blimp(path, o);
  else if (kind == "hellaswag") t = read_hellaswag(path, o);
  else if (kind == "arc" || kind == "arc-easy" || kind == "arc-challenge") t = read_arc(path, o);
  else if (kind == "piqa") t = read_piqa(path, o);
  else if (kind == "winogrande") t = read_winogrande(path, o);
  else if (kind == "lambada") t = read_lambada(path, o);
  else if (kind == "mc") t = read_generic_mc(path, o);
  else fail_input("unknown task kind '{}'", kind);
  t.name = kind;
  if (t.items.empty()) fail_input("{}: no valid items ({} task, {} malformed lines skipped)", path, kind, t.invalid);
  return t;
}

}  // namespace quantscope
