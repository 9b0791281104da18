// Subcommand registry: each src/cli/<name>.cc defines one subcommand and registers it with a
// static CommandRegistration, so main.cc never changes when a command is added.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace quantscope::cli {

struct Command {
  std::string name;
  std::string help;
  // Adds options to `sub` and returns the action to run after parsing (returns the exit code).
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

std::vector<Command>& command_registry();

struct CommandRegistration {
  explicit CommandRegistration(Command c) { command_registry().push_back(std::move(c)); }
};

}  // namespace quantscope::cli
