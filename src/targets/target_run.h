// Running a loaded model as a target would: activations stored in the target's dtype between ops
// (fp16 overflowing to inf where the hardware's would), full-precision weights held in that dtype,
// and a refusal of anything the target cannot run. The host target changes nothing.
#pragma once

#include <string>

#include "model/model.h"
#include "targets/target_profile.h"

namespace quantscope {

struct TargetRunSetup {
  DType activation_dtype = DType::F32;
  std::string summary;  // one line for the user: dtype chosen and why
};

// The model's own float dtype (of its embedding), which the target uses if it has it.
DType model_float_dtype(const Model& m);

// Applies `t` to `m` (in place; call once, before running): activation dtype, full-precision weights
// in that dtype, quantized linears through the target's pipeline (target_linear.h). InputError when the
// target cannot run the model: a KV-cache scheme or a quantized scheme it has no kernel for.
TargetRunSetup apply_target(Model& m, const TargetProfile& t);

}  // namespace quantscope
