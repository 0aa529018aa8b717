// SPDX-License-Identifier: Apache-2.0
// The durable contact registry (docs/relay.md, "Contacts on disk"): SQLite in WAL mode with
// synchronous=FULL under --state-dir, one row per contact (ID -> SHA-256 of the phone's token,
// state, the client prefix that registered it, last-seen time). Every change is one committed
// transaction before the relay answers, so a revocation or registration survives a crash.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "proto/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace hg::relay {

struct StoredContact {
  std::string id;                       // contact ID bytes
  std::array<uint8_t, 32> token_hash{};
  bool revoked = false;
  bool used = false;                    // a desktop contacted it
  bool attached = false;                // a listener was attached when this was written
  std::string owner;                    // client key that registered it
  int64_t last_seen_ms = 0;             // wall clock (Unix ms)
};

// The relay's routing ID kept in <dir>/routing-id (6 upper-case hex digits): read if it exists,
// else `configured` (or a random one when empty) written there (atomically, fsync'd). A
// `configured` ID that differs from the kept one is refused: the contacts carry the kept one.
// `existed` tells whether the file was there before.
Result<std::string> keep_routing_id(const std::string& dir, const std::string& configured, bool& existed);

class ContactStore {
 public:
  ContactStore() = default;
  ~ContactStore();
  ContactStore(const ContactStore&) = delete;
  ContactStore& operator=(const ContactStore&) = delete;

  // Opens (creating) <dir>/contacts.sqlite3. Refuses, with a sentence, a store that fails SQLite's
  // quick_check, and one whose last relay did not stop cleanly while its write-ahead log
  // (contacts.sqlite3-wal, which holds the changes since the last checkpoint) is gone: a copy of
  // the database file alone, or a deleted log, would silently lose registrations and revocations.
  // From here until close_clean() the store is marked "in use" (checkpointed into the file).
  Status open(const std::string& dir);
  // Marks the store cleanly closed and checkpoints everything into the database file.
  void close_clean();
  bool is_open() const { return db_ != nullptr; }
  Status load(const std::function<void(StoredContact&&)>& each);
  Status put(const StoredContact& c);  // insert or replace
  Status remove(const std::string& id);
  bool begin();   // a transaction around several writes
  void commit();

 private:
  Status exec(const char* sql);
  Status fail(const char* what);
  sqlite3* db_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* del_ = nullptr;
  std::string path_;
};

}  // namespace hg::relay
