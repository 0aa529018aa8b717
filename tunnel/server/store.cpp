// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/crypto.hpp"

namespace hg::relay {

namespace {
bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// Writes `text` to `path` atomically: a temporary file, fsync, rename, fsync of the directory.
Status write_durably(const std::string& dir, const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io, "cannot create " + tmp + ": " + std::strerror(errno));
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return make_error(Errc::io, "cannot write " + tmp + ": " + std::strerror(err));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error(Errc::io, "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok_status();
}
}  // namespace

Result<std::string> keep_routing_id(const std::string& dir, const std::string& configured, bool& existed) {
  const std::string path = dir + "/routing-id";
  existed = exists(path);
  if (existed) {
    std::ifstream f(path);
    std::string kept;
    f >> kept;
    if (!f || !hex_decode_fixed<3>(kept))
      return make_error(Errc::io, path + " does not hold a routing ID (6 hex digits): restore it from a backup of the "
                                         "state directory; the contacts registered here carry it");
    kept = upper(kept);
    if (!configured.empty() && upper(configured) != kept)
      return make_error(Errc::invalid_argument,
                        "--routing-id " + configured + " differs from the routing ID " + kept + " kept in " + path +
                            ": every contact registered here carries " + kept +
                            "; drop --routing-id, or remove the state directory to start a new identity");
    return kept;
  }
  std::string id = configured.empty() ? hex_encode(crypto::random_array<3>(), true) : upper(configured);
  HG_CHECK(write_durably(dir, path, id + "\n"));
  return id;
}

ContactStore::~ContactStore() {
  sqlite3_finalize(put_);
  sqlite3_finalize(del_);
  if (db_) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<int> lock_state_dir(const std::string& dir) {
  const std::string path = dir + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(Errc::io, "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return make_error(Errc::io, "the state directory " + dir + " is locked by another hybridgate-relay (" + path +
                                      "): one relay per state directory");
    return make_error(Errc::io, "cannot lock " + path + ": " + std::strerror(err));
  }
  return fd;
}

Status ContactStore::fail(const char* what) {
  return make_error(Errc::io, std::string("contact store ") + path_ + ": " + what + ": " +
                                  (db_ ? sqlite3_errmsg(db_) : "cannot open"));
}

Status ContactStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string e = err ? err : "?";
    sqlite3_free(err);
    return make_error(Errc::io, "contact store " + path_ + ": " + e);
  }
  return ok_status();
}

Status ContactStore::open(const std::string& dir, uint32_t routing_id) {
  path_ = dir + "/contacts.sqlite3";
  // One relay per state directory: a lock file held until the relay exits (flock, released by the
  // kernel even after SIGKILL). The database itself is opened in SQLite's normal locking mode so
  // that `hybridgate-relay backup` can read a consistent snapshot while the relay writes (WAL:
  // readers never block the writer).
  HG_TRY(lock_fd_, lock_state_dir(dir));
  const bool wal_existed = exists(path_ + "-wal");
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK)
    return fail("open");
  sqlite3_busy_timeout(db_, 1000);  // a backup holding a read lock at a checkpoint: wait a little, do not hang
  HG_CHECK(exec("PRAGMA journal_mode=WAL"));
  HG_CHECK(exec("PRAGMA synchronous=FULL"));
  // Checkpoints are explicit: the writer thread's commit copies the log into the database file
  // once it holds 1,000 pages (PASSIVE: never waits for a backup reading), the log file is cut back
  // to 4 MiB after a checkpoint, and a clean stop checkpoints everything (close_clean).
  HG_CHECK(exec("PRAGMA wal_autocheckpoint=1000"));
  HG_CHECK(exec("PRAGMA journal_size_limit=4194304"));
  HG_CHECK(exec(
      "CREATE TABLE IF NOT EXISTS contacts ("
      " id BLOB PRIMARY KEY, token_hash BLOB NOT NULL, revoked INTEGER NOT NULL, used INTEGER NOT NULL,"
      " attached INTEGER NOT NULL, owner TEXT NOT NULL, last_seen_ms INTEGER NOT NULL) WITHOUT ROWID"));
  HG_CHECK(exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"));
  {
    sqlite3_stmt* q = nullptr;
    std::string check;
    if (sqlite3_prepare_v2(db_, "PRAGMA quick_check", -1, &q, nullptr) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
      if (auto* t = sqlite3_column_text(q, 0)) check = reinterpret_cast<const char*>(t);
    sqlite3_finalize(q);
    if (check != "ok")
      return make_error(Errc::io, "contact store " + path_ + " is damaged (SQLite quick_check: " + check +
                                      "): restore it from a backup (docs/relay.md, \"Contacts on disk\")");
    int64_t in_use = 0;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'in_use'", -1, &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
      in_use = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    int64_t kept_rid = -1;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'routing_id'", -1, &q, nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
      kept_rid = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (kept_rid >= 0 && static_cast<uint32_t>(kept_rid) != routing_id) {
      char a[8], b[8];
      std::snprintf(a, sizeof a, "%06X", static_cast<unsigned>(kept_rid) & 0xffffffu);
      std::snprintf(b, sizeof b, "%06X", routing_id & 0xffffffu);
      return make_error(Errc::io, "contact store " + path_ + " belongs to routing ID " + a + ", but the state directory's "
                                      "routing-id says " + b + ": its contacts would be unreachable. Restore the "
                                      "store and routing-id together (`hybridgate-relay restore`)");
    }
    if (in_use && !wal_existed)
      return make_error(Errc::io, "contact store " + path_ + " was in use by a relay that did not stop cleanly, and its "
                                      "write-ahead log " + path_ + "-wal is missing: the registrations and "
                                      "revocations since the last checkpoint would be lost. Put the -wal file back "
                                      "next to it (copy both, or use `sqlite3 contacts.sqlite3 .backup`), or remove "
                                      "the state directory to start empty (every linked phone must link again)");
  }
  HG_CHECK(exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('in_use', 1)"));
  HG_CHECK(exec(("INSERT OR REPLACE INTO meta (key, value) VALUES ('routing_id', " + std::to_string(routing_id) + ")").c_str()));
  HG_CHECK(exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  if (sqlite3_prepare_v2(db_,
                         "INSERT OR REPLACE INTO contacts (id, token_hash, revoked, used, attached, owner, last_seen_ms)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         -1, &put_, nullptr) != SQLITE_OK)
    return fail("prepare");
  if (sqlite3_prepare_v2(db_, "DELETE FROM contacts WHERE id = ?1", -1, &del_, nullptr) != SQLITE_OK)
    return fail("prepare");
  return ok_status();
}

Status ContactStore::load(const std::function<void(StoredContact&&)>& each) {
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id, token_hash, revoked, used, attached, owner, last_seen_ms FROM contacts", -1,
                         &q, nullptr) != SQLITE_OK)
    return fail("prepare");
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    StoredContact c;
    c.id.assign(static_cast<const char*>(sqlite3_column_blob(q, 0)), static_cast<size_t>(sqlite3_column_bytes(q, 0)));
    if (sqlite3_column_bytes(q, 1) != 32) continue;  // not a row this code wrote: ignore it
    std::memcpy(c.token_hash.data(), sqlite3_column_blob(q, 1), 32);
    c.revoked = sqlite3_column_int(q, 2) != 0;
    c.used = sqlite3_column_int(q, 3) != 0;
    c.attached = sqlite3_column_int(q, 4) != 0;
    if (auto* o = sqlite3_column_text(q, 5)) c.owner = reinterpret_cast<const char*>(o);
    c.last_seen_ms = sqlite3_column_int64(q, 6);
    each(std::move(c));
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) return fail("load");
  return ok_status();
}

Status ContactStore::put(const StoredContact& c) {
  sqlite3_reset(put_);
  sqlite3_bind_blob(put_, 1, c.id.data(), static_cast<int>(c.id.size()), SQLITE_TRANSIENT);
  sqlite3_bind_blob(put_, 2, c.token_hash.data(), 32, SQLITE_TRANSIENT);
  sqlite3_bind_int(put_, 3, c.revoked);
  sqlite3_bind_int(put_, 4, c.used);
  sqlite3_bind_int(put_, 5, c.attached);
  sqlite3_bind_text(put_, 6, c.owner.data(), static_cast<int>(c.owner.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(put_, 7, c.last_seen_ms);
  const int rc = sqlite3_step(put_);
  sqlite3_reset(put_);
  sqlite3_clear_bindings(put_);
  if (rc != SQLITE_DONE) return fail("write");
  return ok_status();
}

Status ContactStore::close_clean() {
  if (!db_) return ok_status();
  HG_CHECK(exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('in_use', 0)"));
  // Everything into the database file. A backup reading at this moment delays it (busy timeout);
  // if it still cannot finish, the -wal file stays and holds the rest (nothing is lost).
  int log_frames = -1, copied = -1;
  const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log_frames, &copied);
  if (rc != SQLITE_OK) return fail("checkpoint at stop");
  return ok_status();
}

bool ContactStore::begin() { return sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK; }
bool ContactStore::commit() {
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) return true;
  sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return false;
}

StoreWriter::StoreWriter(ContactStore& store, Post post) : store_(store), post_(std::move(post)) {
  thread_ = std::thread([this] { run(); });
}

StoreWriter::~StoreWriter() { stop(); }

void StoreWriter::put(StoredContact row, std::function<void(bool)> done) {
  submit(Op{false, std::move(row), std::move(done)});
}

void StoreWriter::remove(std::string id, std::function<void(bool)> done) {
  Op op;
  op.remove = true;
  op.row.id = std::move(id);
  op.done = std::move(done);
  submit(std::move(op));
}

void StoreWriter::submit(Op op) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Bounded: a client's change beyond the bound is refused (its caller answers 503 and undoes
    // it), like a change that cannot be made durable. The relay's own clean-up (no callback) is
    // always queued: dropping it would bring a removed contact back after a restart.
    if (op.done && queue_.size() >= kMaxQueued) {
      post_([done = std::move(op.done)] { done(false); });
      return;
    }
    queue_.push_back(std::move(op));
  }
  cv_.notify_one();
}

void StoreWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StoreWriter::run() {
  constexpr size_t kMaxBatch = 4096;  // one transaction's writes at most
  for (;;) {
    std::deque<Op> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything was written
      if (queue_.size() <= kMaxBatch) {
        batch.swap(queue_);
      } else {
        for (size_t i = 0; i < kMaxBatch; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    std::vector<char> ok(batch.size(), 0);
    const bool began = store_.begin();
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& op = batch[i];
      ok[i] = static_cast<char>(began && (op.remove ? store_.remove(op.row.id) : store_.put(op.row)).ok());
    }
    const bool committed = began && store_.commit();
    ++batches_;
    // One post per batch: the callbacks run on the event loop in submission order.
    auto results = std::make_shared<std::pair<std::deque<Op>, std::vector<char>>>(std::move(batch), std::move(ok));
    // Moved, not copied: the callbacks (and what they hold, sessions included) must be destroyed
    // on the event loop, never on this thread.
    post_([results = std::move(results), committed] {
      auto& [ops, oks] = *results;
      for (size_t i = 0; i < ops.size(); ++i)
        if (ops[i].done) ops[i].done(committed && oks[i]);
    });
  }
}

Status ContactStore::remove(const std::string& id) {
  sqlite3_reset(del_);
  sqlite3_bind_blob(del_, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(del_);
  sqlite3_reset(del_);
  sqlite3_clear_bindings(del_);
  if (rc != SQLITE_DONE) return fail("delete");
  return ok_status();
}



// ---- backup and restore (hybridgate-relay backup / restore; docs/relay.md "Backup and restore")

namespace {

struct Db {
  sqlite3* db = nullptr;
  ~Db() {
    if (db) sqlite3_close(db);
  }
};

Error db_error(const std::string& path, sqlite3* db, const std::string& what) {
  return make_error(Errc::io, path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "cannot open"));
}

// One value of the meta table, or -1.
int64_t meta_value(sqlite3* db, const char* key) {
  sqlite3_stmt* q = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &q, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
  }
  sqlite3_finalize(q);
  return v;
}

int64_t count_contacts(sqlite3* db, bool revoked) {
  sqlite3_stmt* q = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM contacts WHERE revoked = ?1", -1, &q, nullptr) == SQLITE_OK) {
    sqlite3_bind_int(q, 1, revoked ? 1 : 0);
    if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
  }
  sqlite3_finalize(q);
  return v;
}

std::string quick_check(sqlite3* db) {
  sqlite3_stmt* q = nullptr;
  std::string check = "(no answer)";
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &q, nullptr) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
    if (auto* t = sqlite3_column_text(q, 0)) check = reinterpret_cast<const char*>(t);
  sqlite3_finalize(q);
  return check;
}

// Copies database `src` into a new file `to` with SQLite's online backup API (one step: a single
// read transaction, i.e. one consistent snapshot; in WAL mode the relay keeps committing
// meanwhile), marks the copy cleanly closed, makes it a single self-contained file
// (journal_mode=DELETE), checks it, fsyncs it and renames it into place.
Status copy_db(sqlite3* src, const std::string& src_name, const std::string& to, bool clear_in_use) {
  const std::string tmp = to + ".tmp";
  std::remove(tmp.c_str());
  Db dst;
  if (sqlite3_open_v2(tmp.c_str(), &dst.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return db_error(tmp, dst.db, "cannot create");
  sqlite3_backup* b = sqlite3_backup_init(dst.db, "main", src, "main");
  if (!b) return db_error(tmp, dst.db, "cannot start the copy of " + src_name);
  int rc;
  for (int tries = 0;; ++tries) {
    rc = sqlite3_backup_step(b, -1);
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && tries < 500) {
      sqlite3_sleep(10);
      continue;
    }
    break;
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    std::remove(tmp.c_str());
    return make_error(Errc::io, "copying " + src_name + " failed: " + sqlite3_errstr(rc));
  }
  auto run = [&](const char* sql) { return sqlite3_exec(dst.db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; };
  bool ok = run("PRAGMA journal_mode=DELETE") && run("PRAGMA synchronous=FULL");
  if (ok && clear_in_use) ok = run("UPDATE meta SET value = 0 WHERE key = 'in_use'");
  const std::string check = ok ? quick_check(dst.db) : std::string(sqlite3_errmsg(dst.db));
  sqlite3_close(dst.db);
  dst.db = nullptr;
  if (!ok || check != "ok") {
    std::remove(tmp.c_str());
    return make_error(Errc::io, "the copy " + tmp + " failed its check: " + check);
  }
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  const bool synced = fd >= 0 && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!synced) return make_error(Errc::io, "cannot fsync " + tmp + ": " + std::strerror(errno));
  ::chmod(tmp.c_str(), 0600);
  if (std::rename(tmp.c_str(), to.c_str()) != 0)
    return make_error(Errc::io, "cannot rename " + tmp + " to " + to + ": " + std::strerror(errno));
  const auto slash = to.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : to.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok_status();
}

std::string hex6(int64_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "%06X", static_cast<unsigned>(v) & 0xffffffu);
  return b;
}

}  // namespace

Result<std::string> backup_state(const std::string& state_dir, const std::string& to) {
  const std::string db_path = state_dir + "/contacts.sqlite3";
  if (!exists(db_path)) return make_error(Errc::io, db_path + " does not exist: nothing to back up");
  if (exists(to)) return make_error(Errc::invalid_argument, to + " exists already: give a new file name");
  // No relay running on the directory (the lock is free): the same refusal as at start for a
  // store whose last relay crashed and whose write-ahead log is gone (the copy would be partial).
  const bool wal_existed = exists(db_path + "-wal");
  auto lock = lock_state_dir(state_dir);
  Db src;
  if (sqlite3_open_v2(db_path.c_str(), &src.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    if (lock) ::close(*lock);
    return db_error(db_path, src.db, "cannot open");
  }
  sqlite3_busy_timeout(src.db, 5000);
  const int64_t in_use = meta_value(src.db, "in_use");
  const int64_t rid = meta_value(src.db, "routing_id");
  if (lock) ::close(*lock);  // the check is done; a relay may start now, the copy does not need the lock
  if (lock && in_use > 0 && !wal_existed)
    return make_error(Errc::io, db_path + " was in use by a relay that did not stop cleanly and its write-ahead log is "
                                          "missing: a copy would lack the changes since the last checkpoint");
  if (rid < 0)
    return make_error(Errc::io, db_path + " has no routing ID recorded (written by a relay older than the backup "
                                          "command): start this relay version on it once, then back it up");
  HG_CHECK(copy_db(src.db, db_path, to, true));
  Db copy;
  int64_t live = -1, revoked = -1;
  if (sqlite3_open_v2(to.c_str(), &copy.db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    live = count_contacts(copy.db, false);
    revoked = count_contacts(copy.db, true);
  }
  return "backed up " + db_path + " to " + to + ": routing ID " + hex6(rid) + ", " + std::to_string(live) +
         " live and " + std::to_string(revoked) + " revoked contacts";
}

Result<std::string> restore_state(const std::string& from, const std::string& state_dir) {
  Db src;
  if (sqlite3_open_v2(from.c_str(), &src.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
    return db_error(from, src.db, "cannot open");
  const std::string check = quick_check(src.db);
  if (check != "ok") return make_error(Errc::io, from + " is damaged (SQLite quick_check: " + check + ")");
  const int64_t rid = meta_value(src.db, "routing_id");
  if (rid < 0 || count_contacts(src.db, false) < 0)
    return make_error(Errc::invalid_argument, from + " is not a backup made by `hybridgate-relay backup` (no routing ID)");
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Errc::io, "cannot create " + state_dir + ": " + std::strerror(errno));
  HG_TRY(int lock, lock_state_dir(state_dir));
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};
  const std::string db_path = state_dir + "/contacts.sqlite3";
  for (const std::string& p : std::initializer_list<std::string>{db_path, db_path + "-wal", state_dir + "/routing-id"})
    if (exists(p))
      return make_error(Errc::invalid_argument, p + " exists: restore into an empty state directory (move the old "
                                                    "one away first)");
  HG_CHECK(copy_db(src.db, from, db_path, true));
  bool existed = false;
  HG_TRY(auto kept, keep_routing_id(state_dir, hex6(rid), existed));
  return "restored " + from + " into " + state_dir + ": routing ID " + kept + ", " +
         std::to_string(count_contacts(src.db, false)) + " live and " + std::to_string(count_contacts(src.db, true)) +
         " revoked contacts";
}

}  // namespace hg::relay
