// Provenance of this binary, recorded in every result file. Defined in one generated translation unit
// (build_info.cc and the build-time build_info_commit.cc) so that a new commit recompiles one file.
#pragma once

namespace quantscope {

const char* build_version();  // project version from CMakeLists.txt, e.g. "0.1.0"
const char* build_commit();   // short git commit of the source tree at build time, or "unknown"

}  // namespace quantscope
