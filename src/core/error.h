// Errors: exceptions inside, one exit code and one line at the CLI boundary.
//   InputError    -> exit 2: the user's file, field, flag or recipe is wrong.
//   InternalError -> exit 1: a bug or an environment fault (out of memory, I/O failure).
// Messages name the file, the field or byte offset, and what was expected.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace quantscope {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

class InternalError : public std::runtime_error {
 public:
  explicit InternalError(const std::string& message) : std::runtime_error(message) {}
};

// Throws InputError with a formatted message, e.g.
//   fail_input("{}: byte {}: tensor '{}' ends past the end of the file", path, off, name);
template <typename... Args>
[[noreturn]] void fail_input(fmt::format_string<Args...> format, Args&&... args) {
  throw InputError(fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail_internal(fmt::format_string<Args...> format, Args&&... args) {
  throw InternalError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace quantscope
