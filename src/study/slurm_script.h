// `quantscope study slurm S.json --db S.db --tasks N`: a Slurm job array of N tasks, task i running
// `quantscope study run S.json --shard i/N` into its own store S.shard<i>.db (no two tasks share a
// SQLite file, which network file systems lock badly), all sharing one quantized-model cache, then a
// job that depends on the whole array (afterok) and merges the shard stores into S.db.
#pragma once

#include <string>

namespace quantscope {

struct SlurmScriptOptions {
  std::string quantscope;  // absolute path of the binary the tasks run
  std::string spec;        // absolute path of the study
  std::string db;          // absolute path of the merged store
  std::string cache_dir;   // absolute, shared by every task
  int tasks = 1;
  int cpus_per_task = 1;   // also OMP_NUM_THREADS of each task
  std::string partition;   // "" = the cluster's default
  std::string time_limit = "01:00:00";
};

struct SlurmScripts {
  std::string array;   // sbatch --array=0..N-1 script
  std::string merge;   // the merge job's script
  std::string submit;  // submits both: the merge with --dependency=afterok:<array job id>
};

// Shard store of task i: "<db minus .db>.shard<i>.db".
std::string shard_db_path(const std::string& db, int shard);
SlurmScripts make_slurm_scripts(const SlurmScriptOptions& o);

}  // namespace quantscope
