// SPDX-License-Identifier: Apache-2.0
// Internal, Beast-heavy: one client connection of the relay, from TCP accept (and TLS handshake)
// through the HTTP upgrade to the WebSocket relay loop. Instantiated once per stream type, in
// session_plain.cpp and session_tls.cpp, so the two heavy translation units build in parallel.
#pragma once

// Asio 1.74's scheduler trips g++ 12's -Wnull-dereference (a flow warning that ignores the
// system-header status of Boost once inlined). Our own code is checked by the other TUs.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <algorithm>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "tunnel/server/core.hpp"

namespace hg::relay {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

bool offers_subprotocol(std::string_view header, std::string_view proto);

// Beast 1.74 puts no deadline on the teardown that follows a close frame it received or a protocol
// error it answered (it reads until the peer closes TCP). The relay's TCP stream type carries a hook
// (in its rate policy, which Beast stores in the stream) that Beast's teardown reaches through the
// overloads below, found by argument-dependent lookup: the session arms its own deadline there.
class TeardownHook {
 public:
  virtual void teardown_started() = 0;

 protected:
  ~TeardownHook() = default;
};

class RelayRatePolicy {  // beast::unlimited_rate_policy plus the hook
  friend class beast::rate_policy_access;
  static constexpr std::size_t kAll = (std::numeric_limits<std::size_t>::max)();
  std::size_t available_read_bytes() const noexcept { return kAll; }
  std::size_t available_write_bytes() const noexcept { return kAll; }
  void transfer_read_bytes(std::size_t) const noexcept {}
  void transfer_write_bytes(std::size_t) const noexcept {}
  void on_timer() const noexcept {}

 public:
  TeardownHook* hook = nullptr;
};
using RelayStream = beast::basic_stream<tcp, net::any_io_executor, RelayRatePolicy>;

template <class TeardownHandler>
void async_teardown(beast::role_type role, RelayStream& s, TeardownHandler&& h) {
  if (auto* k = s.rate_policy().hook) k->teardown_started();
  boost::beast::async_teardown(role, s, std::forward<TeardownHandler>(h));
}
template <class TeardownHandler>
void async_teardown(beast::role_type role, beast::ssl_stream<RelayStream>& s, TeardownHandler&& h) {
  if (auto* k = beast::get_lowest_layer(s).rate_policy().hook) k->teardown_started();
  boost::beast::async_teardown(role, s, std::forward<TeardownHandler>(h));
}

template <bool Tls>
class Session : public Endpoint,
                public Listener,
                public TeardownHook,
                public std::enable_shared_from_this<Session<Tls>> {
  using Next = std::conditional_t<Tls, beast::ssl_stream<RelayStream>, RelayStream>;

 public:
  // Plain.
  Session(Core& core, tcp::socket&& s, bool over_capacity) requires(!Tls)
      : core_(core), ws_(std::move(s)), over_capacity_(over_capacity) {
    init();
  }
  // TLS: the session keeps the context it was created with alive (SIGHUP swaps the server's).
  Session(Core& core, tcp::socket&& s, std::shared_ptr<net::ssl::context> ctx, bool over_capacity) requires(Tls)
      : core_(core), ctx_(std::move(ctx)), ws_(std::move(s), *ctx_), over_capacity_(over_capacity) {
    init();
  }
  ~Session() override {
    --core_.m.connections_open;
    handshake_done();
    core_.clients.detach(this);
    if (counted_client_) core_.clients.count(client_key_, &ClientCounts::connections, -1);
  }

  void start() {
    accepted_at_ = Clock::now();
    beast::get_lowest_layer(ws_).expires_after(secs(std::min(core_.cfg.request_timeout, core_.cfg.upgrade_timeout)));
    if (!admit_handshake()) return;
    if constexpr (Tls) {
      ws_.next_layer().async_handshake(net::ssl::stream_base::server,
                                       [self = this->shared_from_this()](beast::error_code ec) {
                                         if (ec) {
                                           ++self->core_.m.tls_handshake_failures;
                                           if (ec == beast::error::timeout)
                                             self->core_.limit_hit("request_timeout", {{"client", self->client_ip_}});
                                           self->core_.log.log_throttled(
                                               Level::info, "tls_handshake", "tls_handshake_failed",
                                               {{"client", self->client_ip_}, {"error", ec.message()}});
                                           return;
                                         }
                                         self->read_request();
                                       });
    } else {
      read_request();
    }
  }

  // Endpoint
  void send(Message m) override {
    if (read_done_ || closing_ || close_pending_) return;
    outq_.push_back(std::move(m));
    if (!writing_) do_write();
  }
  void close(uint16_t code, const char* reason) override {
    if (read_done_ || closing_ || close_pending_ || !opened_) return;
    close_pending_ = true;
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason);
    core_.sent_close(code);
    if (!writing_) start_close();
  }
  void send_text(std::string text) override {
    if (read_done_ || closing_ || close_pending_) return;
    if (outq_.size() - outq_head_ >= kListenerQueue) {  // the phone stopped reading its wake-ups
      core_.limit_hit("listener_queue", {{"contact", contact_tag(contact_)}});
      core_.listener_closed(contact_, this);
      return close(close_code::policy, "not reading");
    }
    Message m;
    m.charge = Charge(&core_, nullptr);
    auto b = m.buf.prepare(text.size());
    net::buffer_copy(b, net::buffer(text));
    m.buf.commit(text.size());
    m.charge.grow_unchecked(m.buf.capacity());
    outq_.push_back(std::move(m));
    if (!writing_) do_write();
  }
  void abort() override {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }
  void teardown_started() override { arm_deadline(kCloseDeadline); }
  void resume_reading() override {
    paused_ = false;
    do_read();
  }
  void paired() override {
    msg_limit_ = core_.cfg.max_message_size;
    ws_.read_message_max(msg_limit_);
  }
  const TunnelBudget* budget_in_use() const override {
    return tunnel_ && !tunnel_->ended() ? tunnel_->budget().get() : nullptr;
  }
  void evict() override {
    if (auto t = tunnel_; t && !t->ended()) t->evict();
  }
  void shed() override {
    rd_charge_.release();
    if (!writing_) {
      outq_.clear();
      outq_head_ = 0;
    }
    abort();
  }

 private:
  // A connection before its complete HTTP request (TLS handshake included) is charged a fixed cost
  // (what such a connection costs the relay, measured: docs/relay.md "Memory") to the budget and to
  // its TCP peer's prefix, and one peer prefix may have at most --max-connections-per-client of
  // them (a trusted proxy: only the global budget, its clients are counted from their request on).
  // False: the connection was dropped.
  bool admit_handshake() {
    handshaking_ = true;
    ++core_.m.handshaking;
    ClientCounts* c = nullptr;
    if (!contains_any(core_.trusted, peer_)) {
      c = &core_.clients.entry(prefix_key(peer_, core_.cfg.client_prefix_v4, core_.cfg.client_prefix_v6));
      ++c->handshaking;
      core_.clients.network_add(c->net, &ClientCounts::handshaking, +1);
      pre_client_ = c;
      if (c->handshaking > core_.cfg.max_connections_per_client) {
        core_.limit_hit("client_handshakes", {{"client", client_ip_}});
        ++core_.m.rejections["client_handshakes"];
        abort();
        return false;
      }
      const size_t net_cap = core_.cfg.max_connections_per_network;
      if (net_cap && core_.clients.network_value(*c, &ClientCounts::handshaking) > net_cap) {
        core_.limit_hit("network_handshakes", {{"client", client_ip_}, {"network", c->net}});
        ++core_.m.rejections["network_handshakes"];
        abort();
        return false;
      }
    }
    pre_charge_ = Charge(&core_, nullptr, c);
    if (const char* which = pre_charge_.grow(kPreRequestCost, false)) {
      core_.limit_hit("handshake_budget", {{"client", client_ip_}, {"budget", which}});
      ++core_.m.rejections["handshake_budget"];
      abort();
      return false;
    }
    return true;
  }
  void handshake_done() {
    if (!handshaking_) return;
    handshaking_ = false;
    --core_.m.handshaking;
    pre_charge_ = Charge();
    if (ClientCounts* c = pre_client_) {
      pre_client_ = nullptr;
      --c->handshaking;
      core_.clients.network_add(c->net, &ClientCounts::handshaking, -1);
      core_.clients.maybe_erase(*c);
    }
  }

  void init() {
    beast::get_lowest_layer(ws_).rate_policy().hook = this;
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
    if (!ec) {
      const auto addr = ep.address();
      if (addr.is_v4()) {
        const auto b = addr.to_v4().to_bytes();
        std::copy(b.begin(), b.end(), peer_.b.begin());
      } else {
        const auto v6 = addr.to_v6();
        const auto b = v6.to_bytes();
        if (v6.is_v4_mapped()) {
          std::copy(b.begin() + 12, b.end(), peer_.b.begin());  // ::ffff:a.b.c.d is a.b.c.d
        } else {
          peer_.v6 = true;
          std::copy(b.begin(), b.end(), peer_.b.begin());
        }
      }
      client_ip_ = ip_string(peer_);
    }
    ws_.read_message_max(core_.cfg.max_message_size);
    ws_.auto_fragment(false);
    ws_.binary(true);
    websocket::permessage_deflate pmd;
    pmd.server_enable = false;
    pmd.client_enable = false;
    ws_.set_option(pmd);
  }

  void read_request() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(core_.cfg.max_header_size));
    parser_->body_limit(0);
    http::async_read(ws_.next_layer(), buf_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec) handshake_done();
    if (ec == http::error::header_limit) {
      core_.limit_hit("header_size", {{"client", client_ip_}});
      return reject(431, "header_too_large");
    }
    if (ec == beast::error::timeout) {
      core_.limit_hit(core_.cfg.request_timeout < core_.cfg.upgrade_timeout ? "request_timeout" : "upgrade_timeout",
                      {{"client", client_ip_}});
      return;
    }
    if (ec == http::error::body_limit) return reject(400, "request_body");
    if (ec) return;  // client went away or sent garbage
    auto& req = parser_->get();
    IpAddr client = peer_;
    if (contains_any(core_.trusted, peer_)) {
      // Every X-Forwarded-For line, in order, as one list; only what trusted proxies appended counts.
      std::vector<std::string_view> lines;
      auto [b, e] = req.equal_range("X-Forwarded-For");
      for (auto it = b; it != e; ++it) lines.emplace_back(it->value().data(), it->value().size());
      client = forwarded_client(peer_, lines, core_.trusted);
      client_ip_ = ip_string(client);
    }
    // The peer itself (no trusted proxy in front): its entry of the handshake, already looked up.
    // Counted before handshake_done() releases the handshake's count, so the entry stays.
    client_ = pre_client_ && client == peer_ ? pre_client_ : &core_.clients.entry(prefix_key(client, core_.cfg.client_prefix_v4, core_.cfg.client_prefix_v6));
    client_key_ = *client_->key;
    core_.clients.add(*client_, &ClientCounts::connections, +1);
    counted_client_ = true;
    handshake_done();
    core_.clients.attach(*client_, this);
    // The request is in: from here the upgrade deadline (a contact's webhook may take a while).
    beast::get_lowest_layer(ws_).expires_at(accepted_at_ + secs(core_.cfg.upgrade_timeout));
    if (client_->connections > core_.cfg.max_connections_per_client) {
      core_.limit_hit("client_connections", {{"client", client_ip_}});
      core_.reject("client_connections", 503, client_ip_);
      return reject(503, "client_connections");
    }
    if (const size_t cap = core_.cfg.max_connections_per_network;
        cap && core_.clients.network_value(*client_, &ClientCounts::connections) > cap) {
      core_.limit_hit("network_connections", {{"client", client_ip_}, {"network", client_->net}});
      core_.reject("network_connections", 503, client_ip_);
      return reject(503, "network_connections");
    }
    if (over_capacity_) {
      core_.limit_hit("max_connections", {{"open", core_.m.connections_open}});
      core_.reject("max_connections", 503, client_ip_);
      return reject(503, "max_connections");
    }
    RequestInfo info;
    info.is_get = req.method() == http::verb::get;
    info.target = std::string_view(req.target().data(), req.target().size());
    info.is_upgrade = websocket::is_upgrade(req);
    auto proto = req[http::field::sec_websocket_protocol];
    info.offers_fido_cable = offers_subprotocol(std::string_view(proto.data(), proto.size()), "fido.cable");
    info.client_ip = client_ip_;
    info.client_key = client_key_;
    info.client = client_;
    auto hv = [&](const char* name) {
      auto v = req[name];
      return std::string_view(v.data(), v.size());
    };
    // The linking headers matter only on the linking paths (each lookup is a case-insensitive
    // search of the header list, per connection).
    const bool is_listen = info.target.starts_with("/cable/listen");
    const bool is_contact = info.target.starts_with("/cable/contact/");
    if (is_listen) {
      info.contact_token = hv("X-Hybridgate-Contact-Token");
      info.revoke = hv("X-Hybridgate-Revoke");
    }
    if (is_contact) {
      info.client_payload = hv("X-caBLE-Client-Payload");
      info.signal_connection = hv("X-caBLE-Signal-Connection");
    }
    // Only a contact request's answer (a webhook) and a listen request's (a registration or
    // revocation waits until it is durable) can come later; other paths get no callback (a
    // std::function holding a shared_ptr is one allocation per upgrade).
    AdmissionCallback later;
    if (is_contact || is_listen)
      later = [self = this->shared_from_this()](Admission b) { self->admitted(std::move(b)); };
    Admission a = core_.admit(info, std::move(later));
    if (!a.deferred) admitted(std::move(a));
  }

  void admitted(Admission a) {
    if (a.status) return reject(a.status, a.reason);
    auto& req = parser_->get();
    tunnel_ = std::move(a.tunnel);
    side_ = a.side;
    is_new_ = a.is_new;
    listen_ = a.kind == Admission::Kind::listen;
    contact_ = std::move(a.contact);
    revoke_ = a.revoke;
    const char* rid = is_new_ ? core_.rid_hex.c_str() : nullptr;
    const bool signal = tunnel_ && tunnel_->signal_connection() && side_ == Tunnel::kFirst;
    std::string contact_b64 = listen_ ? std::move(a.contact_b64) : std::string();
    ws_.set_option(websocket::stream_base::decorator([rid, signal, contact_b64](websocket::response_type& res) {
      res.set(http::field::server, "hybridgate-relay");
      res.set(http::field::sec_websocket_protocol, "fido.cable");
      if (rid) res.set("X-caBLE-Routing-ID", rid);
      if (signal) res.set("X-caBLE-Signal-Connection", "true");
      if (!contact_b64.empty()) res.set("X-Hybridgate-Contact-ID", contact_b64);
    }));
    if (a.is_contact) is_contact_ = true;
    ws_.async_accept(req, [self = this->shared_from_this()](beast::error_code e) { self->on_accept(e); });
  }

  void reject(unsigned status, const char* reason) {
    unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    res_ = std::make_unique<http::response<http::string_body>>(static_cast<http::status>(status), version);
    res_->set(http::field::server, "hybridgate-relay");
    res_->set(http::field::content_type, "text/plain");
    if (status == 405) res_->set(http::field::allow, "GET");
    res_->body() = std::string(reason) + "\n";
    res_->keep_alive(false);
    res_->prepare_payload();
    http::async_write(ws_.next_layer(), *res_, [self = this->shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ec;
      beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_send, ec);
    });
  }

  void on_accept(beast::error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) core_.limit_hit("upgrade_timeout", {{"client", client_ip_}});
      if (tunnel_) tunnel_->setup_failed(side_);
      tunnel_.reset();
      return;
    }
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout to{};
    to.handshake_timeout = secs(core_.cfg.close_timeout);
    to.idle_timeout = websocket::stream_base::none();
    to.keep_alive_pings = false;
    ws_.set_option(to);
    parser_.reset();
    buf_ = beast::flat_buffer();
    opened_ = true;
    rd_charge_ = Charge(&core_, tunnel_ ? tunnel_->budget() : nullptr, client_);
    if (listen_) return listen_opened();
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::close) on_peer_close();
    });
    // Before the peer joins, only small messages (the handshake is 81 bytes); Tunnel::pair lifts it.
    msg_limit_ = std::min(core_.cfg.max_unpaired_message_size, core_.cfg.max_message_size);
    ws_.read_message_max(msg_limit_);
    if (is_new_) ++core_.m.upgrades_new;
    else if (is_contact_) ++core_.m.upgrades_contact;
    else ++core_.m.upgrades_connect;
    tunnel_->opened(side_, this->shared_from_this());
    do_read();
  }

  // ---- listen connections (docs/linking.md): text wake-ups out, {"revoke": true} and pings in.
  void listen_opened() {
    // Wake-ups are a few hundred bytes: a small kernel send buffer (not autotuned up to tcp_wmem's
    // 4 MiB) bounds what a phone that stops reading costs in the kernel, and makes the write
    // deadline and the queue bound below apply after ~100 unread wake-ups instead of ~20,000.
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().set_option(net::socket_base::send_buffer_size(kListenerSendBuffer), ec);
    ws_.text(true);
    msg_limit_ = kListenMessageMax;
    ws_.read_message_max(msg_limit_);
    last_heard_ = Clock::now();
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      last_heard_ = Clock::now();
      if (kind == websocket::frame_type::close) on_peer_close();
    });
    idle_timer_ = std::make_unique<net::steady_timer>(core_.ioc);
    core_.listener_opened(contact_, this->shared_from_this(), revoke_);
    arm_idle();
    do_read();
  }
  void arm_idle() {
    if (!idle_timer_ || finished_) return;
    idle_timer_->expires_at(last_heard_ + secs(core_.cfg.listen_idle_timeout));
    idle_timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      if (Clock::now() >= self->last_heard_ + secs(self->core_.cfg.listen_idle_timeout)) {
        self->core_.limit_hit("listen_idle_timeout", {{"contact", contact_tag(self->contact_)}});
        self->core_.listener_closed(self->contact_, self.get());
        self->close(close_code::policy, "idle");
        return;
      }
      self->arm_idle();
    });
  }
  void on_listen_read(beast::error_code ec) {
    if (ec) {
      read_done_ = true;
      core_.listener_closed(contact_, this);
      outq_.clear();
      outq_head_ = 0;
      return maybe_finish();
    }
    last_heard_ = Clock::now();
    if (ws_.got_text()) {
      auto d = buf_.data();
      core_.listener_text(contact_, this, std::string_view(static_cast<const char*>(d.data()), d.size()));
    }
    buf_.consume(buf_.size());
    do_read();
  }

  // Reads the next part of a message into buf_, whose growth this function makes (not Beast), after
  // charging it to the memory budget: the first kFirstChunk bytes of an idle read are part of the
  // connection's fixed cost; beyond that the buffer doubles, never past the message size limit.
  // The peer's close frame (Beast answers it and tears the connection down): pass its code on now,
  // not when the teardown ends (a silent peer would hold it until its idle timeout), and give the
  // teardown a deadline.
  void on_peer_close() {
    if (peer_closed_) return;
    peer_closed_ = true;
    peer_code_ = ws_.reason().code;
    arm_deadline(kCloseDeadline);
    if (listen_) core_.listener_closed(contact_, this);
    else if (tunnel_) tunnel_->left(side_, peer_code_, false);
  }

  // One deadline per session for whatever must not hang: a close handshake or teardown, and a
  // listener's write (a phone that stops reading its wake-ups). On expiry the socket is dropped,
  // which fails every pending operation; the session then finishes as usual.
  void arm_deadline(const char* what) {
    if (finished_) return;
    const auto at = Clock::now() + secs(core_.cfg.close_timeout);
    if (deadline_what_ && deadline_at_ <= at) return;  // an earlier one is armed
    if (!deadline_) deadline_ = std::make_unique<net::steady_timer>(core_.ioc);
    deadline_at_ = at;
    deadline_what_ = what;
    deadline_->expires_at(at);
    deadline_->async_wait([self = this->shared_from_this(), at](beast::error_code ec) {
      if (ec || self->finished_ || !self->deadline_what_ || self->deadline_at_ != at) return;
      self->core_.limit_hit(self->deadline_what_, {{"client", self->client_ip_}});
      self->deadline_what_ = nullptr;
      self->abort();
    });
  }
  void disarm_write_deadline() {
    if (deadline_what_ != kWriteDeadline) return;
    deadline_what_ = nullptr;
    deadline_->cancel();
  }

  void do_read() {
    if (reading_ || paused_ || closing_ || close_pending_ || read_done_) return;
    const size_t size = buf_.size();
    size_t want = buf_.capacity();
    if (want <= size) {  // full (or empty): double it, never past the message size limit
      want = std::min(std::max(2 * want, kFirstChunk), std::max(msg_limit_, size + 1));
      if (want <= size) want = size + 1;  // at the limit: Beast answers the next frame with 1009
      const size_t charged = want > kFirstChunk ? want - kFirstChunk : 0;
      if (charged > rd_charge_.bytes()) {
        if (const char* which = rd_charge_.grow(charged - rd_charge_.bytes())) return over_budget(which);
      }
    }
    const size_t chunk = want - size;
    buf_.max_size(want);  // Beast's prepare() cannot grow the buffer beyond this
    buf_.reserve(want);
    reading_ = true;
    ws_.async_read_some(buf_, chunk, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void over_budget(const char* which) {
    if (tunnel_) return tunnel_->limit(which);
    core_.limit_hit(which, {{"contact", contact_tag(contact_)}});
    core_.listener_closed(contact_, this);
    close(close_code::policy, "memory budget");
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (!ec && !ws_.is_message_done()) return do_read();  // a partial message: read on
    if (listen_) return on_listen_read(ec);
    if (ec) {
      read_done_ = true;
      if (peer_closed_) {
        // After the peer's close frame any ending is a clean close with its code: over TLS a peer
        // that closes TCP without close_notify ends the teardown with stream_truncated.
        tunnel_->left(side_, peer_code_, false);
      } else if (ec == websocket::error::closed) {
        tunnel_->left(side_, ws_.reason().code, false);
      } else if (ec == websocket::error::message_too_big) {
        core_.sent_close(close_code::too_big);  // Beast sent the 1009 close frame
        tunnel_->violation(side_, close_code::too_big, "message_size");
      } else {
        tunnel_->left(side_, close_code::going_away, true);
      }
      outq_.clear();
      outq_head_ = 0;
      return maybe_finish();
    }
    if (!ws_.got_binary()) {
      buf_.clear();
      tunnel_->violation(side_, close_code::unsupported_data, "text_message");
      return;
    }
    Message m{std::move(buf_), std::move(rd_charge_)};
    m.charge.grow_unchecked(std::min(kFirstChunk, m.buf.capacity()));  // a buffered message costs all of it
    buf_ = beast::flat_buffer();
    rd_charge_ = Charge(&core_, tunnel_->budget(), client_);
    if (tunnel_->message(side_, std::move(m))) do_read();
    else paused_ = true;
  }

  void do_write() {
    if (outq_head_ == outq_.size()) {
      outq_.clear();
      outq_head_ = 0;
      if (close_pending_) return start_close();
      if (tunnel_) tunnel_->drained(side_);
      return;
    }
    writing_ = true;
    if (listen_) arm_deadline(kWriteDeadline);
    ws_.async_write(outq_[outq_head_].data(), [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      outq_.clear();
      outq_head_ = 0;
      abort();
      return maybe_finish();
    }
    if (listen_) disarm_write_deadline();
    outq_[outq_head_] = Message();
    ++outq_head_;
    do_write();
  }

  void start_close() {
    close_pending_ = false;
    closing_ = true;
    arm_deadline(kCloseDeadline);
    ws_.async_close(close_reason_, [self = this->shared_from_this()](beast::error_code) {
      self->closing_ = false;
      if (!self->reading_) self->read_done_ = true;
      self->maybe_finish();
    });
  }

  void maybe_finish() {
    if (finished_ || !read_done_ || reading_ || writing_ || closing_) return;
    finished_ = true;
    if (close_pending_) {  // never got to send our close frame: the connection is gone already
      close_pending_ = false;
    }
    abort();
    if (idle_timer_) idle_timer_->cancel();
    if (deadline_) deadline_->cancel();
    if (listen_) core_.listener_closed(contact_, this);
    if (tunnel_) {
      auto t = std::move(tunnel_);
      t->released(side_);
    }
  }

  static constexpr size_t kFirstChunk = 512;       // first read of a message: uncharged
  // Charged to a connection before its request is complete (see admit_handshake).
  static constexpr size_t kPreRequestCost = Tls ? 96 << 10 : 8 << 10;
  static constexpr size_t kListenMessageMax = 4096;  // a listen connection's messages ({"revoke": true})
  static constexpr size_t kListenerQueue = 16;       // wake-ups queued to a listener that does not read
  static constexpr int kListenerSendBuffer = 16384;  // SO_SNDBUF of a listen connection (the kernel doubles it)
  static constexpr const char* kCloseDeadline = "close_timeout";
  static constexpr const char* kWriteDeadline = "write_timeout";

  Core& core_;
  std::shared_ptr<net::ssl::context> ctx_;  // TLS only
  websocket::stream<Next> ws_;
  beast::flat_buffer buf_;
  Charge rd_charge_;       // budget charge of buf_ (a message being read)
  size_t msg_limit_ = 0;   // the current read_message_max
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::unique_ptr<http::response<http::string_body>> res_;
  std::shared_ptr<Tunnel> tunnel_;
  std::vector<Message> outq_;
  size_t outq_head_ = 0;
  std::string client_ip_;
  IpAddr peer_;  // the TCP peer (IPv4-mapped folded to IPv4)
  std::string client_key_;      // the client's prefix (limits and per-client caps)
  bool counted_client_ = false; // counted in core_.clients[client_key_].connections
  ClientCounts* client_ = nullptr;      // that entry (stays while this session is listed in it)
  ClientCounts* pre_client_ = nullptr;  // the TCP peer's entry while handshaking_ (see admit_handshake)
  Charge pre_charge_;                   // the fixed cost of a connection before its request
  bool handshaking_ = false;
  Clock::time_point accepted_at_{};
  std::string contact_;                            // listen connections: the contact ID
  std::unique_ptr<net::steady_timer> idle_timer_;  // listen connections only
  Clock::time_point last_heard_{};
  std::unique_ptr<net::steady_timer> deadline_;    // created on first use (arm_deadline)
  Clock::time_point deadline_at_{};
  const char* deadline_what_ = nullptr;            // armed: the limit it counts as
  uint16_t peer_code_ = 0;
  bool peer_closed_ = false;                       // the peer's close frame arrived
  websocket::close_reason close_reason_;
  int side_ = Tunnel::kFirst;
  bool over_capacity_ = false;
  bool is_new_ = true, opened_ = false, reading_ = false, writing_ = false, paused_ = false;
  bool closing_ = false, close_pending_ = false, read_done_ = false, finished_ = false;
  bool listen_ = false, is_contact_ = false, revoke_ = false;
};

}  // namespace hg::relay
