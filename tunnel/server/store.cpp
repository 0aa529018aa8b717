// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
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

Status ContactStore::open(const std::string& dir) {
  path_ = dir + "/contacts.sqlite3";
  const bool wal_existed = exists(path_ + "-wal");
  if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK)
    return fail("open");
  sqlite3_busy_timeout(db_, 1000);  // another process holding it (a second relay on the same dir): fail, do not hang
  // One relay per state directory: the first write takes an exclusive lock held until the relay
  // exits; a second relay on the same directory fails at start ("database is locked").
  HG_CHECK(exec("PRAGMA locking_mode=EXCLUSIVE"));
  HG_CHECK(exec("PRAGMA journal_mode=WAL"));
  HG_CHECK(exec("PRAGMA synchronous=FULL"));
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
    if (in_use && !wal_existed)
      return make_error(Errc::io, "contact store " + path_ + " was in use by a relay that did not stop cleanly, and its "
                                      "write-ahead log " + path_ + "-wal is missing: the registrations and "
                                      "revocations since the last checkpoint would be lost. Put the -wal file back "
                                      "next to it (copy both, or use `sqlite3 contacts.sqlite3 .backup`), or remove "
                                      "the state directory to start empty (every linked phone must link again)");
  }
  HG_CHECK(exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('in_use', 1)"));
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

void ContactStore::close_clean() {
  if (!db_) return;
  sqlite3_exec(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('in_use', 0)", nullptr, nullptr, nullptr);
  sqlite3_exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
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

}  // namespace hg::relay
