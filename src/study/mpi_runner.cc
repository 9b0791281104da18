#include "study/mpi_runner.h"

#include <fmt/format.h>
// The C API only: the deprecated C++ bindings drag in code that warns under -Wextra.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/parallel.h"
#include "study/cell_runner.h"

namespace quantscope {
namespace {

enum Tag : int {
  kTagReady = 1,   // worker -> 0: idle, send me a cell (empty payload)
  kTagResult = 2,  // worker -> 0: a CellRecord as JSON (and idle again)
  kTagAssign = 3,  // 0 -> worker: a plan index (int64) to run
  kTagStop = 4,    // 0 -> worker: no more cells
  kTagFailed = 5,  // worker -> 0: the cell threw; payload is the message
};

constexpr auto kPoll = std::chrono::milliseconds(2);

// Waits for a message from `source` (or any), without spinning a core; returns its status.
MPI_Status wait_message(int source) {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(source, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (flag) return st;
    std::this_thread::sleep_for(kPoll);
  }
}

std::string recv_string(const MPI_Status& st) {
  int n = 0;
  MPI_Get_count(&st, MPI_CHAR, &n);
  std::string s(static_cast<size_t>(n), '\0');
  MPI_Recv(s.data(), n, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return s;
}

void send_string(const std::string& s, int dest, int tag) {
  MPI_Send(s.data(), int(s.size()), MPI_CHAR, dest, tag, MPI_COMM_WORLD);
}

void worker(const StudyPlan& plan, const StudyRunOptions& o, int rank) {
  // The run id is rank 0's; a worker's cells are stored under it.
  int64_t len = 0;
  MPI_Bcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  std::string run_id(static_cast<size_t>(len), '\0');
  MPI_Bcast(run_id.data(), int(len), MPI_CHAR, 0, MPI_COMM_WORLD);
  CellRunner runner(plan, {o.cache_dir.empty() ? default_cache_dir(o.db) : o.cache_dir, run_id, o.command_line, rank});
  send_string("", 0, kTagReady);
  for (;;) {
    MPI_Status st = wait_message(0);
    if (st.MPI_TAG == kTagStop) {
      MPI_Recv(nullptr, 0, MPI_CHAR, 0, kTagStop, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      return;
    }
    int64_t index = 0;
    MPI_Recv(&index, 1, MPI_INT64_T, 0, kTagAssign, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    try {
      const CellRecord r = runner.run(plan.cells[size_t(index)]);
      send_string(r.to_json().dump(), 0, kTagResult);
    } catch (const std::exception& e) {
      send_string(fmt::format("rank {}: cell {} ({} | {} | {}): {}", rank, index, plan.cells[size_t(index)].recipe_label,
                              plan.cells[size_t(index)].target_name, plan.cells[size_t(index)].task_name, e.what()),
                  0, kTagFailed);
    }
  }
}

StudyRunSummary coordinator(const StudyPlan& plan, const StudyRunOptions& o, int world) {
  const auto t0 = std::chrono::steady_clock::now();
  ResultsStore store(o.db);
  const std::string run_id = new_run_id();
  RunRecord run = make_run_record(plan, o, run_id);
  store.put_run(run);
  int64_t len = int64_t(run_id.size());
  MPI_Bcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  MPI_Bcast(const_cast<char*>(run_id.data()), int(len), MPI_CHAR, 0, MPI_COMM_WORLD);

  StudyRunSummary s;
  const std::set<std::string> have = store.cell_keys();
  CellRunner local(plan, {o.cache_dir.empty() ? default_cache_dir(o.db) : o.cache_dir, run_id, o.command_line, 0});
  for (const auto& c : plan.cells) {
    if (c.refused.empty() || (have.count(c.key) && !o.force)) continue;
    store.put_cell(local.refused_record(c, c.refused), o.force);
    ++s.refused;
  }
  const std::vector<size_t> largest_first = cells_largest_first(plan);
  const std::vector<size_t> todo = cells_to_run(plan, largest_first, o.force, have);
  s.already_stored = int64_t(largest_first.size() - todo.size());
  if (!o.quiet)
    fmt::print(stderr, "study {}: {} cells ({} refused), {} to run on {} ranks, {} already stored\n", plan.spec.name,
               plan.cells.size(), plan.cells.size() - plan.runnable(), todo.size(), world, s.already_stored);

  // Rank 0's own compute thread takes from the same queue; only this thread touches MPI and the store.
  std::mutex mu;
  std::deque<size_t> queue(todo.begin(), todo.end());
  std::deque<CellRecord> local_done;
  std::optional<std::string> local_error;
  std::atomic<bool> local_finished{false};
  auto next = [&]() -> std::optional<size_t> {
    std::lock_guard<std::mutex> lock(mu);
    if (queue.empty() || local_error) return std::nullopt;
    const size_t i = queue.front();
    queue.pop_front();
    return i;
  };
  std::thread compute([&] {
    try {
      while (auto i = next()) {
        CellRecord r = local.run(plan.cells[*i]);
        std::lock_guard<std::mutex> lock(mu);
        local_done.push_back(std::move(r));
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu);
      local_error = fmt::format("rank 0: {}", e.what());
    }
    local_finished = true;
  });

  int64_t n = 0;
  auto store_one = [&](const CellRecord& r) {
    store.put_cell(r, o.force);
    if (r.status == "refused") ++s.refused;
    else ++s.computed;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o.quiet)
      fmt::print(stderr, "{} (rank {})\n", cell_progress_line(++n, int64_t(todo.size()), r, elapsed), r.provenance.rank);
  };
  std::optional<std::string> error;
  int stopped = 0;  // workers told to stop
  while (stopped < world - 1 || !local_finished) {
    {
      std::deque<CellRecord> done;
      {
        std::lock_guard<std::mutex> lock(mu);
        done.swap(local_done);
        if (local_error && !error) error = local_error;
      }
      for (const auto& r : done) store_one(r);
    }
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) {
      std::this_thread::sleep_for(kPoll);
      continue;
    }
    const std::string payload = recv_string(st);
    if (st.MPI_TAG == kTagResult) store_one(CellRecord::from_json(nlohmann::json::parse(payload)));
    if (st.MPI_TAG == kTagFailed) {
      fmt::print(stderr, "quantscope: error: {}\n", payload);
      std::lock_guard<std::mutex> lock(mu);
      if (!error) error = payload;
      queue.clear();  // finish what is in flight, start nothing new
    }
    const std::optional<size_t> i = error ? std::nullopt : next();
    if (i) {
      const int64_t index = int64_t(*i);
      MPI_Send(&index, 1, MPI_INT64_T, st.MPI_SOURCE, kTagAssign, MPI_COMM_WORLD);
    } else {
      MPI_Send(nullptr, 0, MPI_CHAR, st.MPI_SOURCE, kTagStop, MPI_COMM_WORLD);
      ++stopped;
    }
  }
  compute.join();
  for (const auto& r : local_done) store_one(r);
  if (local_error && !error) error = local_error;
  run.ended = utc_now();
  store.put_run(run);
  if (error) fail_internal("study stopped after a failed cell: {}", *error);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace

int mpi_world_size_from_env() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(var)) return std::max(1, std::atoi(v));
  return 1;
}

StudyRunSummary run_study_mpi(const StudyPlan& plan, const StudyRunOptions& o) {
  if (o.shards > 1) fail_input("--shard with mpirun: each rank already takes cells from rank 0; use one or the other");
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    fail_internal("the MPI library does not support MPI_THREAD_FUNNELED (rank 0 computes on a second thread)");
  }
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (plan.spec.threads > 0) set_num_threads(plan.spec.threads);
  StudyRunSummary s;
  try {
    if (rank == 0) s = coordinator(plan, o, world);
    else worker(plan, o, rank);
  } catch (const std::exception& e) {
    // One rank failing must not leave the others waiting forever; stored cells stay stored.
    fmt::print(stderr, "quantscope: error (rank {}): {}\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, dynamic_cast<const InputError*>(&e) ? 2 : 1);
  }
  MPI_Finalize();
  s.reporter = rank == 0;
  return s;
}

}  // namespace quantscope
