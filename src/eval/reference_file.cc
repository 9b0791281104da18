#include "eval/reference_file.h"

#include <cmath>
#include <cstring>

#include "core/byte_reader.h"
#include "core/dtype.h"
#include "core/error.h"

namespace quantscope {

namespace {

constexpr char kMagic[8] = {'Q', 'S', 'K', 'L', 'D', 'R', 'E', 'F'};
constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull, kFnvPrime = 0x100000001b3ull;

uint64_t fnv1a(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kFnvPrime;
  return h;
}

void put_value(RefDType d, float x, std::vector<uint8_t>& out) {
  if (d == RefDType::F16) {
    const uint16_t h = f32_to_f16(x);
    out.insert(out.end(), reinterpret_cast<const uint8_t*>(&h), reinterpret_cast<const uint8_t*>(&h) + 2);
  } else {
    out.insert(out.end(), reinterpret_cast<const uint8_t*>(&x), reinterpret_cast<const uint8_t*>(&x) + 4);
  }
}

template <typename T>
void put_pod(std::vector<uint8_t>& out, T v) {
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&v), reinterpret_cast<const uint8_t*>(&v) + sizeof(T));
}

}  // namespace

float ref_round(RefDType dtype, float x) { return dtype == RefDType::F16 ? f16_to_f32(f32_to_f16(x)) : x; }

RefWriter::RefWriter(const std::string& path, const RefHeader& header) : h_(header), file_(path), hash_(kFnvOffset) {
  if (h_.k < 1 || h_.k > h_.vocab) fail_input("ref: top-k {} must be between 1 and the vocabulary size {}", h_.k, h_.vocab);
  std::vector<uint8_t> head(kMagic, kMagic + 8);
  put_pod<uint32_t>(head, h_.version);
  put_pod<uint32_t>(head, uint32_t(h_.protocol));
  put_pod<uint32_t>(head, uint32_t(h_.dtype));
  put_pod<int32_t>(head, h_.vocab);
  put_pod<int32_t>(head, h_.k);
  put_pod<int32_t>(head, h_.bos_id);
  put_pod<int64_t>(head, h_.ctx);
  put_pod<int64_t>(head, int64_t(h_.stream.size()));
  put_pod<int64_t>(head, h_.windows);
  put_pod<int64_t>(head, h_.scored);
  put_pod<int64_t>(head, h_.model_params);
  for (const std::string* s : {&h_.model, &h_.text}) {
    put_pod<uint32_t>(head, uint32_t(s->size()));
    head.insert(head.end(), s->begin(), s->end());
  }
  put(head.data(), head.size());
  static_assert(sizeof(int) == 4);
  put(h_.stream.data(), h_.stream.size() * 4);
}

void RefWriter::put(const void* p, size_t n) {
  hash_ = fnv1a(hash_, static_cast<const uint8_t*>(p), n);
  file_.write(p, n);
}

void RefWriter::add(const int32_t* ids, const float* logp, float log_tail, float target_logp) {
  if (written_ >= h_.scored) fail_internal("ref: more records than the {} announced in the header", h_.scored);
  rec_.clear();
  rec_.insert(rec_.end(), reinterpret_cast<const uint8_t*>(ids), reinterpret_cast<const uint8_t*>(ids + h_.k));
  put_pod<float>(rec_, target_logp);
  for (int i = 0; i < h_.k; ++i) put_value(h_.dtype, logp[i], rec_);
  put_value(h_.dtype, log_tail, rec_);
  put(rec_.data(), rec_.size());
  ++written_;
}

void RefWriter::finish() {
  if (written_ != h_.scored) fail_internal("ref: wrote {} records, header announced {}", written_, h_.scored);
  const uint64_t h = hash_;
  file_.write(&h, 8);
  file_.commit();
}

RefReader::RefReader(const std::string& path) {
  file_ = MappedFile::open(path);
  ByteReader r(file_->data(), file_->size(), path);
  const uint8_t* magic = r.take(8, "magic");
  if (std::memcmp(magic, kMagic, 8) != 0) fail_input("{}: byte 0: not a quantscope KLD reference (magic 'QSKLDREF')", path);
  h_.version = r.read<uint32_t>("version");
  if (h_.version != 1) fail_input("{}: byte 8: version {} is not supported (expected 1)", path, h_.version);
  const uint32_t proto = r.read<uint32_t>("protocol");
  if (proto > 2) fail_input("{}: byte 12: protocol code {} (expected 0, 1 or 2)", path, proto);
  h_.protocol = PplProtocol(proto);
  const uint32_t dt = r.read<uint32_t>("dtype");
  if (dt > 1) fail_input("{}: byte 16: value dtype code {} (expected 0 = f32 or 1 = f16)", path, dt);
  h_.dtype = RefDType(dt);
  h_.vocab = r.read<int32_t>("vocab");
  h_.k = r.read<int32_t>("k");
  h_.bos_id = r.read<int32_t>("bos id");
  if (h_.vocab < 1) fail_input("{}: byte 20: vocabulary size {} must be positive", path, h_.vocab);
  if (h_.k < 1 || h_.k > h_.vocab) fail_input("{}: byte 24: k {} outside 1..{}", path, h_.k, h_.vocab);
  if (h_.bos_id < 0 || h_.bos_id >= h_.vocab) fail_input("{}: byte 28: BOS id {} outside the vocabulary", path, h_.bos_id);
  h_.ctx = r.read<int64_t>("ctx");
  const int64_t stream = r.read<int64_t>("stream tokens");
  h_.windows = r.read<int64_t>("windows");
  h_.scored = r.read<int64_t>("scored tokens");
  h_.model_params = r.read<int64_t>("model parameters");
  if (h_.ctx < 2) fail_input("{}: byte 32: ctx {} must be at least 2", path, h_.ctx);
  if (stream < 0 || uint64_t(stream) > r.remaining() / 4) fail_input("{}: byte 40: stream length {} does not fit the file", path, stream);
  if (h_.windows < 1) fail_input("{}: byte 48: windows {} must be positive", path, h_.windows);
  if (h_.scored < 1) fail_input("{}: byte 56: scored tokens {} must be positive", path, h_.scored);
  for (std::string* s : {&h_.model, &h_.text}) {
    const uint32_t n = r.read<uint32_t>("string length");
    *s = r.read_string(n, "string");
  }
  const uint8_t* sp = r.take(uint64_t(stream) * 4, "token stream");
  h_.stream.resize(size_t(stream));
  std::memcpy(h_.stream.data(), sp, size_t(stream) * 4);
  for (int64_t i = 0; i < stream; ++i)
    if (h_.stream[size_t(i)] < 0 || h_.stream[size_t(i)] >= h_.vocab)
      fail_input("{}: byte {}: stream token {} is {}, outside the vocabulary of {}", path, r.offset() - uint64_t(stream - i) * 4,
                 i, h_.stream[size_t(i)], h_.vocab);
  records_offset_ = r.offset();
  const uint64_t rec = uint64_t(h_.record_bytes());
  if (uint64_t(h_.scored) > (r.remaining() / rec) || r.remaining() != uint64_t(h_.scored) * rec + 8)
    fail_input("{}: byte {}: {} bytes remain, but {} records of {} bytes plus an 8-byte checksum were announced (file "
               "truncated?)", path, r.offset(), r.remaining(), h_.scored, rec);
  uint64_t stored;
  std::memcpy(&stored, file_->data() + file_->size() - 8, 8);
  const uint64_t h = fnv1a(kFnvOffset, file_->data(), size_t(file_->size() - 8));
  if (h != stored) fail_input("{}: byte {}: checksum mismatch (the file is corrupted)", path, file_->size() - 8);
}

void RefReader::token(int64_t i, RefToken* out) const {
  if (i < 0 || i >= h_.scored) fail_internal("ref record {} outside 0..{}", i, h_.scored);
  const uint64_t off = records_offset_ + uint64_t(i) * uint64_t(h_.record_bytes());
  const uint8_t* p = file_->data() + off;
  const size_t k = size_t(h_.k);
  out->ids.resize(k);
  out->logp.resize(k);
  std::memcpy(out->ids.data(), p, 4 * k);
  p += 4 * k;
  std::memcpy(&out->target_logp, p, 4);
  p += 4;
  auto value = [&](const uint8_t*& q) {
    if (h_.dtype == RefDType::F16) {
      uint16_t u;
      std::memcpy(&u, q, 2);
      q += 2;
      return f16_to_f32(u);
    }
    float f;
    std::memcpy(&f, q, 4);
    q += 4;
    return f;
  };
  for (size_t j = 0; j < k; ++j) out->logp[j] = value(p);
  out->log_tail = value(p);
  for (size_t j = 0; j < k; ++j)
    if (out->ids[j] < 0 || out->ids[j] >= h_.vocab)
      fail_input("{}: byte {}: record {} holds token id {}, outside the vocabulary of {}", file_->path(), off + 4 * j, i,
                 out->ids[j], h_.vocab);
}

}  // namespace quantscope
