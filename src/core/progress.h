// Progress display for long work: a redrawn bar with rate and ETA on a terminal (stderr is a tty),
// plain occasional lines otherwise (logs, CI), nothing when quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace quantscope {

class Progress {
 public:
  // total: units of work (tokens, windows, tensors); unit: "tok", "win", ...
  Progress(std::string label, int64_t total, std::string unit, bool quiet = false);
  ~Progress();
  void advance(int64_t n = 1);
  void finish();
  static void set_global_quiet(bool q);

 private:
  void draw(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  bool quiet_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  int last_percent_line_ = -1;
};

}  // namespace quantscope
