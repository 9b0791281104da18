// quantscope: the CLI boundary. Every error becomes one line on stderr and an exit code:
// 2 for bad input (files, fields, flags, recipes), 1 for internal faults.
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>

#include "core/build_info.h"
#include "cli/command.h"
#include "core/error.h"

namespace quantscope::cli {
std::vector<Command>& command_registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace quantscope::cli

int main(int argc, char** argv) {
  using namespace quantscope;
  // Past a file size limit (ulimit -f) a write then fails with EFBIG and is reported, and AtomicFile
  // removes its temporary file; by default SIGXFSZ would kill the process and leave it behind.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"quantscope: how much a quantized LLM loses, where, how fast, on which hardware"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(build_version()) + " (" + build_commit() + ")");
  std::map<CLI::App*, std::function<int()>> actions;
  for (auto& c : cli::command_registry()) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    actions[sub] = c.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, action] : actions)
      if (sub->parsed()) return action();
    return 2;
  } catch (const InputError& e) {
    std::fprintf(stderr, "quantscope: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "quantscope: internal error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quantscope: internal error: %s\n", e.what());
    return 1;
  }
}
