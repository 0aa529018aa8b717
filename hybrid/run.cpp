// SPDX-License-Identifier: Apache-2.0
#include "hybrid/run.hpp"

namespace hg::hybrid {

namespace net = boost::asio;

uint64_t CancelService::add(std::function<void()> hook) {
  if (requested_) {
    hook();
    return 0;
  }
  hooks_.emplace(++next_, std::move(hook));
  return next_;
}

void CancelService::fire() {
  requested_ = true;
  auto hooks = std::move(hooks_);
  hooks_.clear();
  for (auto& [k, h] : hooks) h();
}

namespace {
CancelService& service_of(const net::any_io_executor& ex) {
  return net::use_service<CancelService>(net::query(ex, net::execution::context_as<net::execution_context&>));
}
}  // namespace

OnCancel::OnCancel(const net::any_io_executor& ex, std::function<void()> hook)
    : service_(service_of(ex)), key_(service_.add(std::move(hook))) {}

OnCancel::~OnCancel() {
  if (key_ != 0) service_.remove(key_);
}

bool cancel_requested(const net::any_io_executor& ex) { return service_of(ex).requested(); }

void Runner::cancel() {
  if (fire_queued_.exchange(true)) return;
  net::post(io_, [this] {
    fire_queued_ = false;
    service().fire();
  });
}

void Runner::reset_cancel() {
  // A cancel() that arrived as the ceremony ended may still be queued: run it now, so that it
  // cannot cancel the next ceremony.
  io_.poll();
  io_.restart();
  service().reset();
}

}  // namespace hg::hybrid
