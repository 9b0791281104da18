// Driver of the x^T x kernels (syrk.h): tokens in chunks (each element still sees the tokens in order: a
// chunk's tile loads the element, adds the chunk's tokens and stores it), each chunk packed to double panels,
// then a static split of the register tiles across threads. A tile is computed whole by one thread, so
// neither the thread count nor the chunk length changes a bit.
#include "kernels/syrk.h"

#include <algorithm>
#include <memory>
#include <new>
#include <vector>

#include "core/parallel.h"
#include "kernels/isa.h"

namespace quantscope {

namespace {

constexpr int64_t kP = detail::kSyrkPanel;

using detail::SyrkTile;
using TileFn = void (*)(const SyrkTile&);

// Portable tile (4 rows x 8 columns), the scalar ISA's kernel.
void syrk_tile_scalar(const SyrkTile& w) {
  double acc[4][kP];
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < kP; ++c) acc[r][c] = c < w.ncols[r] ? w.h[r * w.ldh + c] : 0.0;
  for (int64_t t = 0; t < w.n; ++t) {
    const double* at = w.pa + t * kP;
    const double* bt = w.pb + t * kP;
    for (int r = 0; r < 4; ++r) {
      const double a = at[r];
      if (w.fma) {
        for (int c = 0; c < kP; ++c) acc[r][c] += a * bt[c];  // exact product: contracted or not, same bits
      } else {
        for (int c = 0; c < kP; ++c) {
          double p = a * bt[c];
          __asm__("" : "+x"(p));  // keep the product rounded: no contraction into an FMA
          acc[r][c] += p;
        }
      }
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < w.ncols[r]; ++c) w.h[r * w.ldh + c] = acc[r][c];
  if (w.ht)
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < w.tcols[r]; ++c) w.ht[c * w.ldh + r] = acc[r][c];
}

struct Kernel {
  int rows, cols;  // tile shape; cols is a multiple of kP, rows divides kP
  TileFn fn;
};

Kernel kernel() {
  switch (active_isa()) {
    case Isa::Avx512: return {8, 24, detail::syrk_tile_avx512};
    case Isa::Avx2: return {4, 8, detail::syrk_tile_avx2};
    default: return {4, 8, syrk_tile_scalar};
  }
}

struct AlignedDelete {
  void operator()(double* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using Buffer = std::unique_ptr<double[], AlignedDelete>;
Buffer aligned_doubles(int64_t n) {
  return Buffer(static_cast<double*>(::operator new[](size_t(n) * sizeof(double), std::align_val_t(64))));
}

// Panels of tokens t0 .. t0+n of x (or of x - y, each difference rounded to double): see syrk.h.
void pack(const float* x, const float* y, int64_t k, int64_t t0, int64_t n, int64_t panels, int64_t ps, double* out) {
  constexpr int64_t kGroup = 8;  // panels per work item: 64 columns, whole cache lines of x
  parallel_for(0, (panels + kGroup - 1) / kGroup, [&](int64_t g) {
    const int64_t p1 = std::min(panels, (g + 1) * kGroup);
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x + (t0 + t) * k;
      const float* yt = y ? y + (t0 + t) * k : nullptr;
      for (int64_t p = g * kGroup; p < p1; ++p) {
        double* o = out + p * ps + t * kP;
        const float* xp = xt + p * kP;
        const float* yp = yt ? yt + p * kP : nullptr;
        if ((p + 1) * kP <= k) {  // a whole panel
          if (yp)
            for (int64_t c = 0; c < kP; ++c) o[c] = double(xp[c]) - double(yp[c]);
          else
            for (int64_t c = 0; c < kP; ++c) o[c] = double(xp[c]);
        } else {
          for (int64_t c = 0; c < kP; ++c)
            o[c] = p * kP + c >= k ? 0.0 : yp ? double(xp[c]) - double(yp[c]) : double(xp[c]);
        }
      }
    }
  }, n * kGroup * kP * 4);
}

enum class Shape { Lower, Symmetric, Full };

// Tokens per chunk: a packed operand of about 8 MiB, so the panels the tiles stream stay in cache; at least 64
// tokens so loading and storing each tile is paid over many FMAs.
int64_t g_chunk_tokens = 0;
int64_t chunk_tokens(int64_t panels) {
  if (g_chunk_tokens > 0) return g_chunk_tokens;
  const int64_t t = (int64_t(1) << 20) / (panels * kP);
  return std::clamp<int64_t>(t / 8 * 8, 64, 1024);
}

// h += A^T B over the shape's tiles: A = B = x without y; A = x - y, B = y with y.
void run(const float* x, const float* y, int64_t m, int64_t k, double* h, Shape shape) {
  if (m <= 0 || k <= 0) return;
  const Kernel ker = kernel();
  const int64_t panels = (k + kP - 1) / kP;
  const int64_t row_blocks = (k + ker.rows - 1) / ker.rows;
  const int64_t col_groups = (k + ker.cols - 1) / ker.cols;
  // Tiles column group by column group: a group's panels stay in cache while its row blocks stream.
  std::vector<std::pair<int32_t, int32_t>> tiles;  // (column group, row block)
  for (int64_t g = 0; g < col_groups; ++g)
    for (int64_t b = shape == Shape::Full ? 0 : g * ker.cols / ker.rows; b < row_blocks; ++b)
      tiles.emplace_back(int32_t(g), int32_t(b));
  const int64_t kc = std::min(m, chunk_tokens(panels));
  const int64_t ps = kc * kP;
  Buffer pa = aligned_doubles(panels * ps);
  Buffer pb = y ? aligned_doubles(panels * ps) : nullptr;
  for (int64_t t0 = 0; t0 < m; t0 += kc) {
    const int64_t n = std::min(kc, m - t0);
    const int64_t cs = n * kP;  // this chunk's panel stride
    pack(x, y, k, t0, n, panels, cs, pa.get());
    if (y) pack(y, nullptr, k, t0, n, panels, cs, pb.get());
    const double* pbase = y ? pb.get() : pa.get();
    const bool mirror = shape == Shape::Symmetric && t0 + n == m;
    parallel_blocks(int64_t(tiles.size()), [&](int, int64_t begin, int64_t end) {
      SyrkTile tile{};
      tile.ps = cs;
      tile.n = n;
      tile.ldh = k;
      tile.fma = y == nullptr;
      for (int64_t w = begin; w < end; ++w) {
        const int64_t i0 = int64_t(tiles[size_t(w)].second) * ker.rows;
        const int64_t j0 = int64_t(tiles[size_t(w)].first) * ker.cols;
        tile.np = int(std::min<int64_t>(ker.cols / kP, panels - j0 / kP));
        for (int r = 0; r < ker.rows; ++r) {
          const int64_t i = i0 + r;
          int64_t c = i >= k ? 0 : std::min<int64_t>(ker.cols, k - j0);
          if (shape != Shape::Full) c = std::clamp<int64_t>(std::min(c, i - j0 + 1), 0, ker.cols);
          tile.ncols[r] = int(c);
          tile.tcols[r] = int(std::clamp<int64_t>(std::min(c, i - j0), 0, ker.cols));  // below the diagonal
        }
        tile.pa = pa.get() + (i0 / kP) * cs + i0 % kP;
        tile.pb = pbase + (j0 / kP) * cs;
        tile.h = h + i0 * k + j0;
        tile.ht = mirror ? h + j0 * k + i0 : nullptr;
        if (w + 1 < end) {  // the next tile's rows of h: their latency hides behind this tile's FMAs
          const int64_t ni = int64_t(tiles[size_t(w + 1)].second) * ker.rows;
          const int64_t nj = int64_t(tiles[size_t(w + 1)].first) * ker.cols;
          for (int64_t r = ni; r < std::min(k, ni + ker.rows); ++r)
            for (int64_t c = nj; c < std::min(k, nj + ker.cols); c += kP) __builtin_prefetch(h + r * k + c, 1);
          if (mirror)
            for (int64_t c = nj; c < std::min({k, nj + ker.cols, ni + ker.rows}); ++c)
              __builtin_prefetch(h + c * k + ni, 1);
        }
        ker.fn(tile);
      }
    }, n * ker.rows * ker.cols * 2);
  }
}

}  // namespace

void detail::set_syrk_chunk_tokens(int64_t n) { g_chunk_tokens = n; }

void accumulate_xtx_lower_f64(const float* x, int64_t m, int64_t k, double* h) {
  run(x, nullptr, m, k, h, Shape::Lower);
}

void accumulate_xtx_f64(const float* x, int64_t m, int64_t k, double* h) { run(x, nullptr, m, k, h, Shape::Symmetric); }

void accumulate_dxtx_f64(const float* a, const float* b, int64_t m, int64_t k, double* d) {
  run(a, b, m, k, d, Shape::Full);
}

}  // namespace quantscope
