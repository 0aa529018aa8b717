// SPDX-License-Identifier: Apache-2.0
// The durable contact registry (docs/relay.md, "Contacts on disk"): SQLite in WAL mode with
// synchronous=FULL under --state-dir, one row per contact (ID -> SHA-256 of the phone's token,
// state, the client prefix that registered it, last-seen time). Every change is one committed
// transaction before the relay answers, so a revocation or registration survives a crash.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

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
  // Holds <dir>/lock (flock) until destroyed: a second relay on the directory is refused. The
  // store records `routing_id` (the node's 3 bytes); a store recorded for another ID is refused.
  Status open(const std::string& dir, uint32_t routing_id);
  // Marks the store cleanly closed and checkpoints everything into the database file (an error:
  // the -wal file stays next to it and still holds the rest).
  Status close_clean();
  bool is_open() const { return db_ != nullptr; }
  Status load(const std::function<void(StoredContact&&)>& each);
  Status put(const StoredContact& c);  // insert or replace
  Status remove(const std::string& id);
  bool begin();   // a transaction around several writes
  bool commit();  // false: not durable (the transaction is rolled back)

 private:
  Status exec(const char* sql);
  Status fail(const char* what);
  sqlite3* db_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* del_ = nullptr;
  std::string path_;
  int lock_fd_ = -1;
};

// Takes <dir>/lock (flock, exclusive, not waiting): the fd to keep open, or an error naming the
// holder ("locked by another hybridgate-relay").
Result<int> lock_state_dir(const std::string& dir);

// Contact-store writes off the event loop (docs/relay.md, "Contacts on disk"): one writer thread
// takes every write queued since its last commit and commits them as one transaction (group
// commit: one fsync for many changes), then reports each write's outcome through `post` (which
// runs the callback on the event loop). A change is reported done only once it is durable; a
// transaction that cannot be committed reports every write in it as failed. Writes are applied
// in the order they were submitted. The ContactStore is used only by this thread from start() on
// until stop().
class StoreWriter {
 public:
  using Post = std::function<void(std::function<void()>)>;
  StoreWriter(ContactStore& store, Post post);
  ~StoreWriter();  // stop()
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // done(ok) runs on the event loop once the write is durable (ok) or failed; may be empty.
  void put(StoredContact row, std::function<void(bool)> done);
  void remove(std::string id, std::function<void(bool)> done);
  // Commits what is queued and ends the thread (no more callbacks run after the event loop stops).
  void stop();
  size_t batches() const { return batches_; }

 private:
  static constexpr size_t kMaxQueued = 8192;  // client changes waiting for the disk
  struct Op {
    bool remove = false;
    StoredContact row;  // remove: row.id only
    std::function<void(bool)> done;
  };
  void submit(Op op);
  void run();
  ContactStore& store_;
  Post post_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<size_t> batches_{0};
};

}  // namespace hg::relay
