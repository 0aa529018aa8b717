// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/store.hpp"

#include <sqlite3.h>

#include <cstring>

namespace hg::relay {

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

bool ContactStore::begin() { return sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK; }
void ContactStore::commit() { sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); }

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
