// SPDX-License-Identifier: Apache-2.0
// Running ceremony coroutines to completion from blocking code, and cancelling them from any
// thread. Internal to hybrid/ (the façades use it; the CLI and the C ABI call the façades).
//
// Cancellation is cooperative: Runner::cancel() posts to the io_context; every place where a
// ceremony waits for something slow (an advert, a channel read, the listen connection) holds an
// OnCancel registration that aborts that wait, and then reports session.cancelled. So a cancelled
// ceremony unwinds normally (sockets closed, adverts and scans stopped) before run() returns; a
// TCP/TLS connect in progress is bounded by its own connect deadline.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <optional>

#include "proto/error.hpp"

namespace hg::hybrid {

// Per-io_context cancellation state (an Asio service, so coroutines find it from their executor).
class CancelService final : public boost::asio::execution_context::service {
 public:
  using key_type = CancelService;
  static inline boost::asio::execution_context::id id;
  explicit CancelService(boost::asio::execution_context& ctx) : service(ctx) {}

  // On the io thread only.
  uint64_t add(std::function<void()> hook);
  void remove(uint64_t handle) { hooks_.erase(handle); }
  void fire();                // runs every hook once; later registrations run at once
  bool requested() const { return requested_; }
  void reset() { requested_ = false; }

 private:
  void shutdown() override { hooks_.clear(); }
  std::map<uint64_t, std::function<void()>> hooks_;
  uint64_t next_ = 0;
  bool requested_ = false;
};

// While alive, `hook` runs (on the io thread) when the ceremony is cancelled.
class OnCancel {
 public:
  OnCancel(const boost::asio::any_io_executor& ex, std::function<void()> hook);
  ~OnCancel();
  OnCancel(const OnCancel&) = delete;
  OnCancel& operator=(const OnCancel&) = delete;

 private:
  CancelService& service_;
  uint64_t key_;
};

// Whether the ceremony on this executor's io_context was cancelled.
bool cancel_requested(const boost::asio::any_io_executor& ex);

// Owns one io_context; runs one coroutine at a time on the calling thread.
class Runner {
 public:
  Runner() = default;
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  boost::asio::io_context& io() { return io_; }

  // Runs `task` to completion. A cancelled task's error is replaced by session.cancelled.
  template <typename T>
  Result<T> run(boost::asio::awaitable<Result<T>> task) {
    std::optional<Result<T>> out;
    boost::asio::co_spawn(io_, store(&out, std::move(task)), [&out](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        out.emplace(make_error(Errc::internal, ex.what()));
      }
    });
    while (!out) {
      if (io_.run_one() == 0) {  // no work left and no result: a coroutine waits on nothing
        io_.restart();
        return make_error(Errc::internal, "a ceremony stopped without a result");
      }
    }
    if (service().requested() && !*out) out.emplace(make_error(Errc::session_cancelled));
    return std::move(*out);
  }

  // Any thread: the running (or next) run() ends with session.cancelled.
  void cancel();
  // After a cancelled ceremony, before the next one (same thread as run()).
  void reset_cancel();
  bool cancelled() { return service().requested(); }

 private:
  template <typename T>
  static boost::asio::awaitable<void> store(std::optional<Result<T>>* out, boost::asio::awaitable<Result<T>> task) {
    out->emplace(co_await std::move(task));
  }
  CancelService& service() { return boost::asio::use_service<CancelService>(io_); }

  boost::asio::io_context io_{1};
  std::atomic<bool> fire_queued_{false};
};

}  // namespace hg::hybrid
