// SPDX-License-Identifier: Apache-2.0
#include "memory_link.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hg::doubles {

namespace net = boost::asio;

FaultPlan fault_at(size_t index, Fault f) {
  return [index, f](size_t i, ByteView) { return i == index ? f : Fault::none(); };
}

void MemoryLink::set_faults(int side, FaultPlan plan) {
  std::lock_guard lock(mutex_);
  to_[1 - side].plan = std::move(plan);
}

void MemoryLink::on_message(int side, std::function<void(const tunnel::Message&)> hook) {
  std::lock_guard lock(mutex_);
  to_[1 - side].hook = std::move(hook);
}

size_t MemoryLink::written(int side) const {
  std::lock_guard lock(mutex_);
  return to_[1 - side].written;
}

bool MemoryLink::closed() const {
  std::lock_guard lock(mutex_);
  return to_[0].closed.has_value() || to_[1].closed.has_value();
}

void MemoryLink::wake(Direction& d) {
  if (auto t = d.waiter.lock()) net::post(t->get_executor(), [t] { t->cancel(); });
}

void MemoryLink::flush(Direction& d) {
  while (!d.staged.empty() && d.staged.front().ready) {
    d.queue.push_back(std::move(d.staged.front().message));
    d.staged.pop_front();
  }
  wake(d);
}

void MemoryLink::release(int side) {
  std::lock_guard lock(mutex_);
  auto& d = to_[1 - side];
  for (auto& s : d.staged) s.ready = true;
  flush(d);
}

void MemoryLink::inject(int to_side, tunnel::Message m) {
  std::lock_guard lock(mutex_);
  auto& d = to_[to_side];
  if (d.closed) return;
  d.staged.push_back({std::move(m), true, ++next_id_});
  flush(d);
}

void MemoryLink::close_locked(const std::string& why, std::optional<uint16_t> code) {
  for (auto& d : to_) {
    if (!d.closed) {
      d.closed = why;
      d.close_code = code;
    }
    wake(d);
  }
}

void MemoryLink::close_both(uint16_t code) {
  std::lock_guard lock(mutex_);
  close_locked("close " + std::to_string(code), code);
}

net::awaitable<Result<tunnel::Message>> MemoryLink::End::read_any() {
  auto ex = co_await net::this_coro::executor;
  auto& d = link->to_[side];
  for (;;) {
    std::shared_ptr<net::steady_timer> timer;
    {
      std::lock_guard lock(link->mutex_);
      if (d.aborted) {
        d.waiter.reset();
        co_return make_error(Errc::tunnel_closed, "Operation canceled");
      }
      if (!d.queue.empty()) {
        tunnel::Message m = std::move(d.queue.front());
        d.queue.pop_front();
        d.waiter.reset();
        co_return m;
      }
      if (d.closed) {
        d.waiter.reset();
        co_return make_error(Errc::tunnel_closed, *d.closed);
      }
      timer = std::make_shared<net::steady_timer>(ex, net::steady_timer::time_point::max());
      d.waiter = timer;  // the link never owns a timer (it may outlive the io_context)
    }
    boost::system::error_code ec;
    co_await timer->async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

net::awaitable<Status> MemoryLink::End::write(bool text, ByteView data) {
  tunnel::Message m{text, Bytes(data.begin(), data.end())};  // before the first suspension
  auto ex = co_await net::this_coro::executor;
  auto& d = link->to_[1 - side];
  std::function<void(const tunnel::Message&)> hook;
  std::optional<tunnel::Message> seen;  // what the hook is shown (as delivered)
  {
    std::lock_guard lock(link->mutex_);
    if (link->to_[side].aborted) co_return make_error(Errc::tunnel_closed, "Operation canceled");
    if (d.closed) co_return make_error(Errc::tunnel_closed, *d.closed);
    const size_t index = d.written++;
    Fault f = d.plan ? d.plan(index, m.data) : Fault::none();
    if (f.kind == Fault::Kind::drop) co_return ok_status();
    if (f.kind == Fault::Kind::close) {
      link->close_locked("close " + std::to_string(f.close_code), f.close_code);
      co_return ok_status();
    }
    if (f.kind == Fault::Kind::abort) {
      link->close_locked("connection dropped", std::nullopt);
      co_return ok_status();
    }
    if (f.kind == Fault::Kind::corrupt) {
      if (m.data.empty()) co_return ok_status();
      m.data[f.byte % m.data.size()] ^= f.mask == 0 ? 0x01 : f.mask;
    }
    hook = d.hook;
    if (hook) seen = m;
    const uint64_t id = ++link->next_id_;
    const bool ready = f.kind != Fault::Kind::hold && f.kind != Fault::Kind::delay;
    d.staged.push_back({std::move(m), ready, id});
    if (f.kind == Fault::Kind::delay) {
      auto timer = std::make_shared<net::steady_timer>(ex, f.delay);
      std::weak_ptr<MemoryLink> weak = link;
      const int to = 1 - side;
      timer->async_wait([timer, weak, to, id](const boost::system::error_code&) {
        auto l = weak.lock();
        if (!l) return;
        std::lock_guard lock2(l->mutex_);
        auto& dd = l->to_[to];
        for (auto& s : dd.staged)  // still staged (not delivered by a release() meanwhile)
          if (s.id == id) s.ready = true;
        l->flush(dd);
      });
    }
    link->flush(d);
  }
  if (hook) hook(*seen);
  co_return ok_status();
}

void MemoryLink::End::close(uint16_t code) {
  std::lock_guard lock(link->mutex_);
  auto& to_peer = link->to_[1 - side];
  if (!to_peer.closed) {
    to_peer.closed = "close " + std::to_string(code);
    to_peer.close_code = code;
  }
  auto& mine = link->to_[side];
  if (!mine.closed) mine.closed = "the connection is closed";
  link->wake(to_peer);
  link->wake(mine);
}

void MemoryLink::End::cancel() {
  std::lock_guard lock(link->mutex_);
  auto& mine = link->to_[side];
  mine.aborted = true;
  link->wake(mine);
  auto& to_peer = link->to_[1 - side];
  if (!to_peer.closed) to_peer.closed = "connection dropped";
  link->wake(to_peer);
}

void MemoryLink::End::drop() {
  std::lock_guard lock(link->mutex_);
  auto& to_peer = link->to_[1 - side];
  if (!to_peer.closed) to_peer.closed = "connection dropped";
  link->wake(to_peer);
}

std::optional<uint16_t> MemoryLink::End::peer_close_code() const {
  std::lock_guard lock(link->mutex_);
  return link->to_[side].close_code;
}

// ---------------------------------------------------------------- adapters

net::awaitable<Result<Bytes>> MemoryChannel::read() {
  auto m = co_await end_.read_any();
  if (!m) co_return m.error();
  if (m->text) co_return make_error(Errc::tunnel_protocol, "text message");
  co_return std::move(m->data);
}

net::awaitable<Status> MemoryChannel::write(ByteView message) {
  co_return co_await end_.write(false, message);
}

net::awaitable<void> MemoryChannel::close(uint16_t code) {
  end_.close(code);
  co_return;
}

net::awaitable<Result<tunnel::Message>> MemoryWebSocket::read_any() {
  auto m = co_await end_.read_any();
  if (!m && m.error().code == Errc::tunnel_closed) peer_close_ = end_.peer_close_code();
  co_return m;
}

net::awaitable<Result<Bytes>> MemoryWebSocket::read() {
  auto m = co_await read_any();
  if (!m) co_return m.error();
  if (m->text) co_return make_error(Errc::tunnel_protocol, "text message");
  co_return std::move(m->data);
}

net::awaitable<Status> MemoryWebSocket::write_text(std::string_view text) {
  co_return co_await end_.write(true, ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

net::awaitable<Status> MemoryWebSocket::write(ByteView message) {
  co_return co_await end_.write(false, message);
}

net::awaitable<void> MemoryWebSocket::close(uint16_t code) {
  end_.close(code);
  co_return;
}

ChannelPair channel_pair() {
  ChannelPair p;
  p.link = MemoryLink::make();
  p.side0 = std::make_unique<MemoryChannel>(MemoryLink::End{p.link, 0});
  p.side1 = std::make_unique<MemoryChannel>(MemoryLink::End{p.link, 1});
  return p;
}

}  // namespace hg::doubles
