// A test fixture for kernel tests that force ISAs and thread counts: both are restored after each test,
// so the next test runs with the machine's defaults.
#pragma once

#include <gtest/gtest.h>

#include "core/parallel.h"
#include "kernels/isa.h"

namespace quantscope::test {

class IsaAndThreadsRestored : public ::testing::Test {
 protected:
  void TearDown() override {
    set_isa(saved_isa_);
    set_num_threads(saved_threads_);
  }
  Isa saved_isa_ = active_isa();
  int saved_threads_ = num_threads();
};

}  // namespace quantscope::test
