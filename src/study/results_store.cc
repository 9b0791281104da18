#include "study/results_store.h"

#include <sqlite3.h>
#include <sys/resource.h>

#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <map>

#include "core/error.h"

namespace quantscope {
namespace {

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS runs(run_id TEXT PRIMARY KEY, study TEXT, spec TEXT, command_line TEXT, commit_id TEXT,
  version TEXT, host TEXT, started TEXT, ended TEXT);
CREATE TABLE IF NOT EXISTS cells(key TEXT PRIMARY KEY, run_id TEXT, study TEXT, model TEXT, model_hash TEXT,
  recipe TEXT, recipe_json TEXT, quant_key TEXT, seed INTEGER, target TEXT, task TEXT, status TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS metrics(cell_key TEXT NOT NULL, name TEXT NOT NULL, value REAL, error REAL,
  count INTEGER, protocol TEXT, PRIMARY KEY(cell_key, name));
CREATE TABLE IF NOT EXISTS provenance(cell_key TEXT PRIMARY KEY, command_line TEXT, commit_id TEXT, version TEXT,
  host TEXT, rank INTEGER, started TEXT, ended TEXT, wall_s REAL, peak_rss_bytes INTEGER);
CREATE VIEW IF NOT EXISTS results AS
  SELECT c.study, c.model, c.recipe, c.seed, c.target, c.task, c.status, m.name AS metric, m.value, m.error,
         m.count, m.protocol, c.reason, c.key
  FROM cells c LEFT JOIN metrics m ON m.cell_key = c.key;
)SQL";

// A failed SQLite call, reported by what it means for the user: a damaged file is bad input (exit 2);
// disk full, I/O errors and out of memory are the environment (exit 1, src/core/error.h); the rest
// (an SQL error in a --where filter, a file that is not a store) is bad input.
[[noreturn]] void fail_sqlite(int rc, const std::string& path, const std::string& msg) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      fail_input("{}: not a valid results store ({})", path, msg);
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
      fail_internal("{}: {}", path, msg);
    default:
      fail_input("{}: {}", path, msg);
  }
}

// A prepared statement that finalizes itself; errors name the store.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql, const std::string& path) : db_(db), path_(path) {
    const char* tail = nullptr;
    if (const int rc = sqlite3_prepare_v2(db, sql.c_str(), int(sql.size()), &s_, &tail); rc != SQLITE_OK)
      fail_sqlite(rc, path, fmt::format("{} (in: {})", sqlite3_errmsg(db), sql));
    while (tail && *tail && std::isspace(static_cast<unsigned char>(*tail))) ++tail;
    if (tail && *tail) fail_input("{}: one SQL statement expected, extra text: {}", path, tail);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& integer(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    // A step that fails for an SQL reason (a constraint: a cell stored twice) is the program's error.
    const int primary = rc & 0xff;
    if (primary == SQLITE_CONSTRAINT || primary == SQLITE_MISUSE) fail_internal("{}: {}", path_, sqlite3_errmsg(db_));
    fail_sqlite(rc, path_, sqlite3_errmsg(db_));
  }
  std::string col_text(int i) const {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  double col_real(int i) const { return sqlite3_column_double(s_, i); }
  // SQLite stores a NaN bound as REAL as NULL (infinities it keeps): a metric's NULL reads back as NaN,
  // never as the 0.0 sqlite3_column_double would return.
  double col_metric(int i) const {
    return sqlite3_column_type(s_, i) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(s_, i);
  }
  int64_t col_int(int i) const { return sqlite3_column_int64(s_, i); }
  int columns() const { return sqlite3_column_count(s_); }
  std::string column_name(int i) const { return sqlite3_column_name(s_, i); }

 private:
  sqlite3* db_;
  std::string path_;
  sqlite3_stmt* s_ = nullptr;
};

bool same_double(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// JSON has no NaN or infinity (nlohmann writes null, which reads back as an error): the MPI messages
// carry them as the strings "nan", "inf", "-inf".
nlohmann::json metric_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
double metric_from_json(const nlohmann::json& j) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s == "nan") return std::nan("");
    if (s == "inf") return HUGE_VAL;
    if (s == "-inf") return -HUGE_VAL;
    fail_internal("cell record message: '{}' is not a number", s);
  }
  return j.get<double>();
}

}  // namespace

bool Metric::operator==(const Metric& o) const {
  return name == o.name && same_double(value, o.value) && same_double(error, o.error) && count == o.count &&
         protocol == o.protocol;
}

nlohmann::json CellRecord::to_json() const {
  nlohmann::json m = nlohmann::json::array();
  for (const auto& x : metrics)
    m.push_back({{"name", x.name}, {"value", metric_json(x.value)}, {"error", metric_json(x.error)}, {"count", x.count},
                 {"protocol", x.protocol}});
  const auto& p = provenance;
  return {{"key", key},         {"run_id", run_id}, {"study", study},   {"model", model},
          {"model_hash", model_hash}, {"recipe", recipe}, {"recipe_json", recipe_json}, {"quant_key", quant_key},
          {"seed", seed},       {"target", target}, {"task", task},     {"status", status},
          {"reason", reason},   {"metrics", m},
          {"provenance",
           {{"command_line", p.command_line}, {"commit", p.commit}, {"version", p.version}, {"host", p.host},
            {"rank", p.rank}, {"started", p.started}, {"ended", p.ended}, {"wall_s", p.wall_s},
            {"peak_rss_bytes", p.peak_rss_bytes}}}};
}

CellRecord CellRecord::from_json(const nlohmann::json& j) {
  CellRecord c;
  try {
    c.key = j.at("key"), c.run_id = j.at("run_id"), c.study = j.at("study"), c.model = j.at("model");
    c.model_hash = j.at("model_hash"), c.recipe = j.at("recipe"), c.recipe_json = j.at("recipe_json");
    c.quant_key = j.at("quant_key"), c.seed = j.at("seed"), c.target = j.at("target"), c.task = j.at("task");
    c.status = j.at("status"), c.reason = j.at("reason");
    for (const auto& m : j.at("metrics"))
      c.metrics.push_back({m.at("name"), metric_from_json(m.at("value")), metric_from_json(m.at("error")), m.at("count"),
                           m.at("protocol")});
    const auto& p = j.at("provenance");
    c.provenance = {p.at("command_line"), p.at("commit"), p.at("version"), p.at("host"), p.at("rank"),
                    p.at("started"),      p.at("ended"),  p.at("wall_s"),  p.at("peak_rss_bytes")};
  } catch (const nlohmann::json::exception& e) {
    fail_internal("cell record message unreadable: {}", e.what());
  }
  return c;
}

ResultsStore::ResultsStore(const std::string& path, bool read_only) : path_(path) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail_input("{}: cannot open results store ({})", path, msg);
  }
  sqlite3_busy_timeout(db_, 30000);  // ms: a reader (results query) may hold the file briefly
  // A constructor that throws never runs the destructor: the connection is closed here (found by
  // fuzz_results_store as a leak on every file that is not a store).
  try {
    check_or_create_schema(read_only);
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    // A store this call began (disk full while writing its schema) is removed, never left looking
    // like an empty store; an existing one is left exactly as it was.
    if (!read_only && !existed)
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
    throw;
  }
}

void ResultsStore::check_or_create_schema(bool read_only) {
  if (!read_only) {
    // WAL: readers never block the writer; synchronous=NORMAL is durable against a killed process
    // (only an OS crash can lose the last transactions), which is the failure a study must survive.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(kSchema);
  } else {
    Stmt s(db_, "SELECT count(*) FROM sqlite_master WHERE name='cells'", path_);
    if (!s.step() || s.col_int(0) == 0) fail_input("{}: not a quantscope results store (no 'cells' table)", path_);
  }
  // SQLite only notices damage in the pages a query reads: a store with a damaged page that a
  // query happens not to touch would answer from the rest, silently. quick_check reads every page
  // (milliseconds for a store of thousands of cells) before anything is read or added.
  Stmt check(db_, "PRAGMA quick_check(3)", path_);  // at most 3 rows: "*** in database main ***" and the first problems
  std::string problems;
  while (check.step()) problems += (problems.empty() ? "" : "; ") + check.col_text(0);
  if (problems != "ok") fail_input("{}: not a valid results store (integrity check: {})", path_, problems);
}

ResultsStore::~ResultsStore() { sqlite3_close(db_); }

void ResultsStore::exec(const char* sql) {
  char* err = nullptr;
  if (const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    fail_sqlite(rc, path_, msg);
  }
}

void ResultsStore::put_run(const RunRecord& r) {
  Stmt(db_,
       "INSERT INTO runs VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(run_id) DO UPDATE SET ended=excluded.ended",
       path_)
      .text(1, r.run_id).text(2, r.study).text(3, r.spec).text(4, r.command_line).text(5, r.commit)
      .text(6, r.version).text(7, r.host).text(8, r.started).text(9, r.ended)
      .step();
}

void ResultsStore::insert_cell(const CellRecord& c) {
  Stmt(db_, "INSERT INTO cells VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)", path_)
      .text(1, c.key).text(2, c.run_id).text(3, c.study).text(4, c.model).text(5, c.model_hash).text(6, c.recipe)
      .text(7, c.recipe_json).text(8, c.quant_key).integer(9, int64_t(c.seed)).text(10, c.target).text(11, c.task)
      .text(12, c.status).text(13, c.reason)
      .step();
  for (const auto& m : c.metrics)
    Stmt(db_, "INSERT INTO metrics VALUES(?1,?2,?3,?4,?5,?6)", path_)
        .text(1, c.key).text(2, m.name).real(3, m.value).real(4, m.error).integer(5, m.count).text(6, m.protocol)
        .step();
  const auto& p = c.provenance;
  Stmt(db_, "INSERT INTO provenance VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)", path_)
      .text(1, c.key).text(2, p.command_line).text(3, p.commit).text(4, p.version).text(5, p.host).integer(6, p.rank)
      .text(7, p.started).text(8, p.ended).real(9, p.wall_s).integer(10, p.peak_rss_bytes)
      .step();
}

void ResultsStore::put_cell(const CellRecord& c, bool replace) {
  exec("BEGIN IMMEDIATE");
  try {
    if (has_cell(c.key)) {
      if (!replace) fail_internal("{}: cell {} is already stored (not overwritten; --force recomputes)", path_, c.key);
      for (const char* table : {"DELETE FROM cells WHERE key=?1", "DELETE FROM metrics WHERE cell_key=?1",
                                "DELETE FROM provenance WHERE cell_key=?1"})
        Stmt(db_, table, path_).text(1, c.key).step();
    }
    insert_cell(c);
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

bool ResultsStore::has_cell(const std::string& key) {
  Stmt s(db_, "SELECT 1 FROM cells WHERE key=?1", path_);
  s.text(1, key);
  return s.step();
}

std::set<std::string> ResultsStore::cell_keys() {
  std::set<std::string> keys;
  Stmt s(db_, "SELECT key FROM cells", path_);
  while (s.step()) keys.insert(s.col_text(0));
  return keys;
}

std::vector<CellRecord> ResultsStore::cells() {
  std::vector<CellRecord> out;
  std::map<std::string, size_t> at;
  {
    Stmt s(db_,
           "SELECT key, run_id, study, model, model_hash, recipe, recipe_json, quant_key, seed, target, task, status, "
           "reason FROM cells ORDER BY key",
           path_);
    while (s.step()) {
      CellRecord c;
      c.key = s.col_text(0), c.run_id = s.col_text(1), c.study = s.col_text(2), c.model = s.col_text(3);
      c.model_hash = s.col_text(4), c.recipe = s.col_text(5), c.recipe_json = s.col_text(6), c.quant_key = s.col_text(7);
      c.seed = uint64_t(s.col_int(8)), c.target = s.col_text(9), c.task = s.col_text(10), c.status = s.col_text(11);
      c.reason = s.col_text(12);
      at[c.key] = out.size();
      out.push_back(std::move(c));
    }
  }
  {
    Stmt s(db_, "SELECT cell_key, name, value, error, count, protocol FROM metrics ORDER BY cell_key, name", path_);
    while (s.step()) {
      auto it = at.find(s.col_text(0));
      if (it != at.end())
        out[it->second].metrics.push_back({s.col_text(1), s.col_metric(2), s.col_metric(3), s.col_int(4), s.col_text(5)});
    }
  }
  {
    Stmt s(db_,
           "SELECT cell_key, command_line, commit_id, version, host, rank, started, ended, wall_s, peak_rss_bytes FROM "
           "provenance",
           path_);
    while (s.step()) {
      auto it = at.find(s.col_text(0));
      if (it != at.end())
        out[it->second].provenance = {s.col_text(1), s.col_text(2), s.col_text(3), s.col_text(4), int(s.col_int(5)),
                                      s.col_text(6), s.col_text(7), s.col_real(8), s.col_int(9)};
    }
  }
  return out;
}

std::vector<RunRecord> ResultsStore::runs() {
  std::vector<RunRecord> out;
  Stmt s(db_, "SELECT run_id, study, spec, command_line, commit_id, version, host, started, ended FROM runs", path_);
  while (s.step())
    out.push_back({s.col_text(0), s.col_text(1), s.col_text(2), s.col_text(3), s.col_text(4), s.col_text(5),
                   s.col_text(6), s.col_text(7), s.col_text(8)});
  return out;
}

MergeReport ResultsStore::merge_from(const std::string& other_path) {
  ResultsStore other(other_path, true);
  const auto theirs = other.cells();
  const auto their_runs = other.runs();
  std::map<std::string, CellRecord> mine;
  for (auto& c : cells()) mine.emplace(c.key, std::move(c));
  MergeReport rep;
  exec("BEGIN IMMEDIATE");
  try {
    for (const auto& r : their_runs)
      Stmt(db_, "INSERT OR IGNORE INTO runs VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)", path_)
          .text(1, r.run_id).text(2, r.study).text(3, r.spec).text(4, r.command_line).text(5, r.commit)
          .text(6, r.version).text(7, r.host).text(8, r.started).text(9, r.ended)
          .step();
    for (const auto& c : theirs) {
      auto it = mine.find(c.key);
      if (it == mine.end()) {
        insert_cell(c);
        ++rep.added;
      } else if (it->second.status == c.status && it->second.metrics == c.metrics) {
        ++rep.identical;
      } else {
        std::string diff;
        for (const auto& m : c.metrics)
          for (const auto& n : it->second.metrics)
            if (m.name == n.name && !(m == n))
              diff += fmt::format(" {}: here {} (se {}), there {} (se {});", m.name, n.value, n.error, m.value, m.error);
        if (diff.empty()) diff = fmt::format(" status/metric set differs (here {}, there {})", it->second.status, c.status);
        rep.conflicts.push_back(fmt::format("cell {} ({} / {} / {} / {}):{}", c.key.substr(0, 12), c.model, c.recipe,
                                            c.target, c.task, diff));
      }
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return rep;
}

std::vector<std::vector<std::string>> ResultsStore::query(const std::string& where, std::vector<std::string>* columns) {
  const std::string sql = "SELECT study, model, recipe, seed, target, task, status, metric, value, error, count, "
                          "protocol, reason, key FROM results" +
                          (where.empty() ? std::string() : " WHERE " + where) +
                          " ORDER BY model, recipe, seed, target, task, metric";
  Stmt s(db_, sql, path_);
  columns->clear();
  for (int i = 0; i < s.columns(); ++i) columns->push_back(s.column_name(i));
  std::vector<std::vector<std::string>> rows;
  while (s.step()) {
    std::vector<std::string> row;
    for (int i = 0; i < s.columns(); ++i) row.push_back(s.col_text(i));
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {
constexpr std::string_view kUnitKldPrefix = "unit_kld/";
}  // namespace

std::string unit_kld_metric_name(int layer, const std::string& role) {
  return fmt::format("{}{}/{}", kUnitKldPrefix, layer, role);
}

bool is_unit_kld_metric(const std::string& name) { return name.rfind(kUnitKldPrefix, 0) == 0; }

bool parse_unit_kld_metric(const std::string& name, int* layer, std::string* role) {
  if (!is_unit_kld_metric(name)) return false;
  const size_t begin = kUnitKldPrefix.size(), slash = name.find('/', begin);
  if (slash == std::string::npos) return false;
  try {
    *layer = std::stoi(name.substr(begin, slash - begin));
  } catch (const std::exception&) {
    return false;  // not a name this version writes
  }
  *role = name.substr(slash + 1);
  return true;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace quantscope
