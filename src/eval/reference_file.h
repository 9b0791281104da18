// The compact KLD reference written by `quantscope ref` and read by `quantscope eval --tasks kld:REF`:
// per scored token the top-k log-probabilities of the reference model, their token ids, the log of the
// remaining (tail) probability mass and the log-probability of the observed next token. The header
// carries everything needed to score exactly the same inputs again (protocol, ctx, BOS, the token
// stream). Layout (little-endian; docs/perplexity-protocols.md):
//
//   0   char[8]  "QSKLDREF"
//   8   u32      version (1)
//   12  u32      protocol (0 full-window, 1 llama.cpp, 2 rolling)
//   16  u32      value dtype of the log-probs (0 f32, 1 f16)
//   20  i32      vocab size V
//   24  i32      k (1 <= k <= V)
//   28  i32      BOS id
//   32  i64      ctx
//   40  i64      stream tokens S
//   48  i64      windows scored W (the first W windows of the protocol)
//   56  i64      scored tokens N
//   64  i64      reference model parameter count (informational)
//   72  u32 + bytes  reference model path (UTF-8)
//   ..  u32 + bytes  text path
//   ..  i32[S]   the token stream (no BOS)
//   ..  N records of 4k + 4 + (k+1)*s bytes, s = 4 (f32) or 2 (f16):
//         i32[k] ids (descending probability, ties by lower id), f32 target log-prob,
//         value[k] log-probs, value log tail mass (-inf when k == V or the tail underflows)
//   end u64      FNV-1a 64 of every preceding byte
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "core/mapped_file.h"
#include "eval/perplexity.h"

namespace quantscope {

enum class RefDType : uint32_t { F32 = 0, F16 = 1 };

struct RefHeader {
  uint32_t version = 1;
  PplProtocol protocol = PplProtocol::FullWindow;
  RefDType dtype = RefDType::F16;
  int32_t vocab = 0, k = 32, bos_id = 1;
  int64_t ctx = 0, windows = 0, scored = 0, model_params = 0;
  std::string model, text;
  std::vector<int> stream;

  int64_t record_bytes() const { return 4 * int64_t(k) + 4 + (int64_t(k) + 1) * (dtype == RefDType::F16 ? 2 : 4); }
};

// One scored token of the reference, values widened to fp32.
struct RefToken {
  std::vector<int32_t> ids;   // [k]
  std::vector<float> logp;    // [k], natural log
  float log_tail = 0;         // log(1 - sum of the top-k probabilities), -inf when empty
  float target_logp = 0;      // log-probability of the observed next token (always fp32)
};

// Streams records to an AtomicFile; the file appears under `path` only after finish() succeeds with
// exactly header.scored records.
class RefWriter {
 public:
  RefWriter(const std::string& path, const RefHeader& header);
  // ids/logp: [k]; values are rounded to the header's dtype here.
  void add(const int32_t* ids, const float* logp, float log_tail, float target_logp);
  void finish();

 private:
  void put(const void* p, size_t n);
  RefHeader h_;
  AtomicFile file_;
  uint64_t hash_;
  int64_t written_ = 0;
  std::vector<uint8_t> rec_;
};

class RefReader {
 public:
  // Validates the whole file (sizes, ranges, checksum); InputError names the file and byte offset.
  explicit RefReader(const std::string& path);
  const RefHeader& header() const { return h_; }
  // Record i in [0, scored); token ids are range-checked against the vocabulary.
  void token(int64_t i, RefToken* out) const;

 private:
  std::shared_ptr<MappedFile> file_;
  RefHeader h_;
  uint64_t records_offset_ = 0;
};

// The value the dtype stores for x (what a reader will see): identity for f32, round-to-nearest-even
// through IEEE half for f16.
float ref_round(RefDType dtype, float x);

}  // namespace quantscope
