// Content keys of a study's work: a cell (one model x recipe x seed x target x task), the quantized
// model a cell needs (shared by every target and task of that recipe), and the unquantized reference a
// KLD task compares against. Each is SHA-256 over a canonical JSON document of everything that
// determines the result: file contents (not paths), the recipe's canonical JSON, the calibration draw,
// the target profile's text, the task and its protocol, and the quantscope version. Moving files or
// renaming a study keeps every key; changing any input byte changes it.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "study/study_spec.h"

namespace quantscope {

// SHA-256 of a file's bytes, or of a directory's regular files (relative name + bytes, sorted by name).
std::string content_hash(const std::string& path);

// The identity of one model as the study uses it: its weights file and its tokenizer.
struct ModelIdentity {
  std::string weights_hash;    // content_hash(model path)
  std::string tokenizer_hash;  // content_hash(explicit tokenizer) or "beside-model" (inside weights_hash for a dir)
};

// The inputs of a quantized model: model, canonical recipe, and the calibration draw when the recipe
// needs calibration (`calibration` null otherwise, so RTN models are shared across seeds).
nlohmann::json quant_key_document(const ModelIdentity& model, const nlohmann::json& recipe,
                                  const nlohmann::json& calibration);
// {"files": [content hashes], "samples", "tokens", "seed"}.
nlohmann::json calibration_document(const StudyCalibration& c, uint64_t seed);
// {"kind", "protocol", "ctx", "windows", "limit", "data": content hash}.
nlohmann::json task_document(const StudyTask& t);
// The profile's JSON text hash (built-in by name, or a profile file by path).
std::string target_hash(const std::string& target);

// key = sha256(canonical JSON of the document + the quantscope version).
std::string document_key(const std::string& kind, const nlohmann::json& document);

std::string cell_key(const std::string& quant_key_or_model, const std::string& target, const nlohmann::json& task);
std::string reference_key(const ModelIdentity& model, const nlohmann::json& task);

}  // namespace quantscope
