// Shared by the libFuzzer targets: the fuzzer's bytes as a file or a string, the one rule for which
// exceptions are expected, and a check that every tensor view a parser returns is readable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/tensor_set.h"

namespace quantscope::fuzz {

// A directory of this process's own under $TMPDIR (created once, reused by every input), so two
// fuzzers running side by side never read each other's files.
const std::string& scratch_dir();

// Writes `size` bytes to scratch_dir()/name and returns the path. Most readers take a path because
// they memory-map (or read) the file themselves; LLVMFuzzerInitialize sets QUANTSCOPE_NO_MMAP=1 so
// the bytes land in a heap buffer whose bounds AddressSanitizer checks.
std::string write_input(const std::string& name, const uint8_t* data, size_t size);

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads the first and last byte of every view's data: a view whose offsets or shape claim bytes the
// file does not hold becomes an ASan report here instead of a silent read later in the forward pass.
void touch_views(const TensorSet& set);

// Runs `parse`; InputError (bad input, reported to the user with exit code 2) is the expected way
// for a parser to refuse. Anything else escapes and libFuzzer reports it as a finding.
template <typename F>
void expect_input_errors_only(F&& parse);

// Common start-up: heap-read files instead of mmap, one thread (parallel loops stay deterministic and
// the OpenMP runtime keeps no per-thread buffers that LeakSanitizer would report).
void init();

}  // namespace quantscope::fuzz

#include "core/error.h"

template <typename F>
void quantscope::fuzz::expect_input_errors_only(F&& parse) {
  try {
    parse();
  } catch (const quantscope::InputError&) {
  }
}
