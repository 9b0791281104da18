#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace quantscope {

namespace {
bool g_quiet = false;
}

void Progress::set_global_quiet(bool q) { g_quiet = q; }

Progress::Progress(std::string label, int64_t total, std::string unit, bool quiet)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), quiet_(quiet || g_quiet),
      tty_(::isatty(2) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::advance(int64_t n) {
  done_ += n;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(200)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  if (quiet_ || total_ <= 0) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? double(done_) / secs : 0.0;
  const double eta = rate > 0 ? double(total_ - done_) / rate : 0.0;
  const int percent = int(100.0 * double(done_) / double(total_));
  if (tty_) {
    const int width = 30;
    const int filled = int(double(width) * double(done_) / double(total_));
    std::string bar(size_t(filled), '#');
    bar.resize(size_t(width), '.');
    std::fprintf(stderr, "\r%s [%s] %3d%% %lld/%lld %s  %.1f %s/s  ETA %.0fs ", label_.c_str(), bar.c_str(),
                 percent, (long long)done_, (long long)total_, unit_.c_str(), rate, unit_.c_str(), eta);
    if (final) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  } else if (final || percent / 25 > last_percent_line_) {
    last_percent_line_ = percent / 25;
    std::fprintf(stderr, "%s: %d%% (%lld/%lld %s, %.1f %s/s)\n", label_.c_str(), percent, (long long)done_,
                 (long long)total_, unit_.c_str(), rate, unit_.c_str());
  }
}

}  // namespace quantscope
