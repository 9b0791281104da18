#include "core/build_info.h"

namespace quantscope {

// QUANTSCOPE_VERSION is defined for this file only (src/CMakeLists.txt).
const char* build_version() { return QUANTSCOPE_VERSION; }

}  // namespace quantscope
