#include "model/gguf_packed.h"

#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "core/large_pages.h"
#include "core/parallel.h"
#include "formats/ggml_blocks.h"

namespace quantscope {

bool gguf_type_packable(GgmlType t) { return t == GgmlType::Q8_0 || t == GgmlType::Q4_0; }

std::unique_ptr<PackedLinear> gguf_packed_linear(const GgufTensor& t) {
  if (!gguf_type_packable(t.type) || t.ne.size() != 2)
    fail_internal("gguf_packed_linear: {} is not a 2-D q8_0/q4_0 tensor", t.name);
  const bool q8 = t.type == GgmlType::Q8_0;
  const int64_t rows = t.ne[1], cols = t.ne[0], blocks = cols / 32;  // the reader checked cols % 32 == 0
  PackedCodesMatrix layout;
  layout.bits = q8 ? 8 : 4;
  layout.rows = rows;
  layout.cols = cols;
  layout.group_size = 32;
  layout.groups = blocks;
  layout.row_bytes = q8 ? cols : cols / 2;
  layout.zero = q8 ? 128.0f : 8.0f;
  LargeVector<uint8_t> codes(size_t(rows * layout.row_bytes));
  std::vector<float> scales(size_t(rows * blocks));
  const uint64_t in_row = ggml_row_size(t.type, cols);
  parallel_for(0, rows, [&](int64_t r) {
    const uint8_t* in = t.data + uint64_t(r) * in_row;
    uint8_t* out = codes.data() + r * layout.row_bytes;
    for (int64_t b = 0; b < blocks; ++b) {
      if (q8) {
        BlockQ8_0 blk;
        std::memcpy(&blk, in + b * sizeof(BlockQ8_0), sizeof(blk));
        scales[size_t(r * blocks + b)] = f16_to_f32(blk.d);
        for (int j = 0; j < 32; ++j) out[b * 32 + j] = uint8_t(int(blk.qs[j]) + 128);
      } else {
        BlockQ4_0 blk;
        std::memcpy(&blk, in + b * sizeof(BlockQ4_0), sizeof(blk));
        scales[size_t(r * blocks + b)] = f16_to_f32(blk.d);
        // Our byte i of the block holds elements 2i (low nibble) and 2i + 1 (high nibble).
        auto element = [&](int e) { return e < 16 ? blk.qs[e] & 0x0f : blk.qs[e - 16] >> 4; };
        for (int i = 0; i < 16; ++i) out[b * 16 + i] = uint8_t(element(2 * i) | (element(2 * i + 1) << 4));
      }
    }
  }, 64 * cols);
  for (size_t i = 0; i < scales.size(); ++i)  // NaN/Inf weights would otherwise pass silently
    if (!std::isfinite(scales[i])) {
      const int64_t r = int64_t(i) / blocks, b = int64_t(i) % blocks;
      fail_input("{}: tensor '{}' (byte {}): block {} of row {} has a non-finite scale", t.source, t.name,
                 t.file_offset + uint64_t(r) * in_row + uint64_t(b) * ggml_traits(t.type).type_size, b, r);
    }
  return std::make_unique<PackedLinear>(layout, std::move(codes), std::move(scales), std::vector<float>{},
                                        q8 ? "q8_0" : "q4_0");
}

}  // namespace quantscope
