// SPDX-License-Identifier: Apache-2.0
// In-process doubles for whole-ceremony tests and the whole-transaction fuzzer (tests only; never
// linked into a program): an in-memory connection between two sides with fault injection.
//
// A MemoryLink is one connection with two ends (side 0 and side 1). Each end is handed out as a
// hybrid::Channel (channel_pair) or as a tunnel::WebSocket (websocket_pair, what the in-process
// tunnel server in memory_relay.hpp gives the ceremonies). Messages arrive whole and in order.
// The two ends may live on different io_contexts and threads (a desktop and a phone, each on its
// own hybrid::Runner): the link is locked, and a reader is woken on its own executor.
//
// Faults are injected on the messages a side writes, chosen per message by a FaultPlan: drop it,
// close the connection with a code (both ends then read tunnel.closed "close CODE"), drop the
// connection (as a lost TCP connection: tunnel.closed "connection dropped"), delay it by a timer
// on the writer's executor, hold it until release(), or corrupt one byte. A delayed or held
// message holds back the ones written after it (order is kept); a close overtakes them.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "hybrid/channel.hpp"
#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "tunnel/client/websocket.hpp"

namespace hg::doubles {

struct Fault {
  enum class Kind { none, drop, close, abort, delay, hold, corrupt };
  Kind kind = Kind::none;
  uint16_t close_code = 1000;           // close
  std::chrono::milliseconds delay{0};   // delay
  size_t byte = 0;                      // corrupt: message[byte % size] ^= mask (an empty message is dropped)
  uint8_t mask = 0x01;

  static Fault none() { return {}; }
  static Fault drop() { return {Kind::drop}; }
  static Fault close(uint16_t code) { return {Kind::close, code}; }
  static Fault abort() { return {Kind::abort}; }
  static Fault delay_by(std::chrono::milliseconds d) { return {Kind::delay, 1000, d}; }
  static Fault hold() { return {Kind::hold}; }
  static Fault corrupt(size_t byte, uint8_t mask = 0x01) { return {Kind::corrupt, 1000, {}, byte, mask}; }
};

// The fault for the `index`th message (from 0) a side writes. Called on the writer's thread.
using FaultPlan = std::function<Fault(size_t index, ByteView message)>;
// The same fault on message `index` only.
FaultPlan fault_at(size_t index, Fault f);

class MemoryLink : public std::enable_shared_from_this<MemoryLink> {
 public:
  static std::shared_ptr<MemoryLink> make() { return std::shared_ptr<MemoryLink>(new MemoryLink()); }

  // Faults on what `side` writes (replaces the previous plan).
  void set_faults(int side, FaultPlan plan);
  // Delivers the messages `side` wrote that are held (Fault::hold).
  void release(int side);
  // Messages `side` has written so far (faulted ones included).
  size_t written(int side) const;
  // Called (on the writer's thread, outside the lock) with every message `side` writes that is
  // delivered; the in-process relay uses it to see a listener's text messages.
  void on_message(int side, std::function<void(const tunnel::Message&)> hook);

  // Puts a message on the way to `to_side` at once (no faults): what a relay itself sends.
  void inject(int to_side, tunnel::Message m);
  // Closes the connection: both ends read tunnel.closed "close CODE" once their queued messages
  // are read (as when a relay closes a tunnel).
  void close_both(uint16_t code);
  // Whether an end closed or dropped the connection (or close_both).
  bool closed() const;

  // One end (used by the adapters below).
  struct End {
    std::shared_ptr<MemoryLink> link;
    int side = 0;
    boost::asio::awaitable<Result<tunnel::Message>> read_any();
    // Copies `data` (GCC 12 mishandles class temporaries passed by value into a coroutine).
    boost::asio::awaitable<Status> write(bool text, ByteView data);
    void close(uint16_t code);
    void cancel();
    void drop();  // the peer reads "connection dropped" unless the connection was closed
    std::optional<uint16_t> peer_close_code() const;
  };

 private:
  MemoryLink() = default;
  struct Staged {
    tunnel::Message message;
    bool ready = false;
    uint64_t id = 0;
  };
  struct Direction {  // messages to one side
    std::deque<tunnel::Message> queue;
    std::deque<Staged> staged;               // delayed/held, and what was written after them
    std::optional<std::string> closed;       // why reading ends, once `queue` is empty
    std::optional<uint16_t> close_code;
    bool aborted = false;                    // the reader's own end was cancelled
    std::weak_ptr<boost::asio::steady_timer> waiter;  // the reader's, while it waits
    FaultPlan plan;                          // faults on messages written TOWARDS this side
    size_t written = 0;
    std::function<void(const tunnel::Message&)> hook;
  };
  void wake(Direction& d);         // with the lock held
  void flush(Direction& d);        // staged → queue, with the lock held
  void close_locked(const std::string& why, std::optional<uint16_t> code);

  mutable std::mutex mutex_;
  Direction to_[2];
  uint64_t next_id_ = 0;
};

// A hybrid::Channel over one end.
class MemoryChannel final : public hybrid::Channel {
 public:
  explicit MemoryChannel(MemoryLink::End end) : end_(std::move(end)) {}
  // Like a socket: an end destroyed without close() drops the connection.
  ~MemoryChannel() override { end_.drop(); }
  boost::asio::awaitable<Result<Bytes>> read() override;
  boost::asio::awaitable<Status> write(ByteView message) override;
  boost::asio::awaitable<void> close(uint16_t code) override;
  void cancel() override { end_.cancel(); }
  using Channel::read;

 private:
  MemoryLink::End end_;
};

// A tunnel::WebSocket over one end, with the upgrade answer a relay gave.
class MemoryWebSocket final : public tunnel::WebSocket {
 public:
  MemoryWebSocket(MemoryLink::End end, tunnel::HandshakeInfo info) : end_(std::move(end)) { info_ = std::move(info); }
  ~MemoryWebSocket() override { end_.drop(); }
  boost::asio::awaitable<Result<Bytes>> read() override;
  boost::asio::awaitable<Result<tunnel::Message>> read_any() override;
  boost::asio::awaitable<Status> write_text(std::string_view text) override;
  boost::asio::awaitable<Status> write(ByteView message) override;
  boost::asio::awaitable<void> close(uint16_t code) override;
  void cancel() override { end_.cancel(); }

 private:
  MemoryLink::End end_;
};

struct ChannelPair {
  std::shared_ptr<MemoryLink> link;
  std::unique_ptr<hybrid::Channel> side0, side1;
};
ChannelPair channel_pair();

}  // namespace hg::doubles
