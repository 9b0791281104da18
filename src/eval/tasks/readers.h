// One reader per public task layout (each in its own file); mc_task.cc dispatches by task kind.
// Prompt formats follow lm-evaluation-harness (v0.4 task YAMLs) so numbers are comparable.
#pragma once

#include <string>

#include "eval/mc_task.h"

namespace quantscope {

McTask read_blimp(const std::string& path, const TaskReadOptions& o);       // blimp.cc
McTask read_hellaswag(const std::string& path, const TaskReadOptions& o);   // hellaswag.cc
McTask read_arc(const std::string& path, const TaskReadOptions& o);         // arc.cc
McTask read_piqa(const std::string& path, const TaskReadOptions& o);        // piqa.cc
McTask read_winogrande(const std::string& path, const TaskReadOptions& o);  // winogrande.cc
McTask read_lambada(const std::string& path, const TaskReadOptions& o);     // lambada.cc
McTask read_generic_mc(const std::string& path, const TaskReadOptions& o);  // generic.cc

}  // namespace quantscope
