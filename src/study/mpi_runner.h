// A study on MPI ranks (`mpirun -n N quantscope study run S.json --db S.db`). Rank 0 owns the results
// store (the only writer) and the queue of cells, largest estimated cost first; every rank, rank 0
// included, asks for one cell at a time when idle, so fast and slow cells balance dynamically. A
// worker returns each finished cell to rank 0, which stores it in its own transaction at once: a rank
// that dies loses only the cell it was running, and a re-run does what is missing.
//
// Only rank 0's main thread calls MPI (MPI_THREAD_FUNNELED); rank 0 computes cells on a second thread.
// Waits poll with MPI_Iprobe and a 2 ms sleep instead of blocking receives, because Open MPI's blocking
// receive spins a core, and on a small machine that core is the one the workers need.
#pragma once

#include "study/study_runner.h"

namespace quantscope {

// The world size the MPI launcher announced in the environment (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
// PMIX_SIZE), or 1 when this process was not started by mpirun (then MPI is never initialized).
int mpi_world_size_from_env();

StudyRunSummary run_study_mpi(const StudyPlan& plan, const StudyRunOptions& o);

}  // namespace quantscope
