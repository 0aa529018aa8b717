// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/core.hpp"

#include <sys/resource.h>

#include <cstring>
#include <functional>

#include "proto/bytes.hpp"
#include "proto/crypto.hpp"
#include "proto/domains.hpp"
#include "proto/messages.hpp"

namespace hg::relay {

namespace {
// Per-process salt so clients cannot pick tunnel IDs that collide in the hash table.
const std::array<uint8_t, 16>& hash_salt() {
  static const auto salt = crypto::random_array<16>();
  return salt;
}
}  // namespace

size_t TunnelIdHash::operator()(const TunnelId& id) const noexcept {
  char buf[32];
  std::memcpy(buf, hash_salt().data(), 16);
  std::memcpy(buf + 16, id.data(), 16);
  return std::hash<std::string_view>{}(std::string_view(buf, sizeof buf));
}

// ---------------------------------------------------------------------------------------------
// Memory budget

Charge::Charge(Core* core, std::shared_ptr<TunnelBudget> t, ClientCounts* client)
    : core_(core), t_(std::move(t)), c_(client) {
  if (c_) ++c_->charges;
}

void Charge::unbind() {
  if (!c_) return;
  --c_->charges;
  if (c_->charges == 0) core_->clients.maybe_erase(*c_);
  c_ = nullptr;
}

const char* Charge::grow(size_t n, bool may_reclaim) {
  if (!core_ || n == 0) return nullptr;
  if (t_ && t_->used + n > core_->max_tunnel_buffer) return "tunnel_buffer";
  if (c_ && c_->buffered + n > core_->max_client_buffer) return "client_buffer";
  if (core_->buffered + n > core_->cfg.max_buffered_bytes &&
      !(may_reclaim && core_->reclaim(n, c_, t_.get())))
    return "buffer_budget";
  grow_unchecked(n);
  return nullptr;
}

void Charge::grow_unchecked(size_t n) {
  if (!core_) return;
  n_ += n;
  core_->buffered += n;
  core_->m.buffered_bytes = static_cast<int64_t>(core_->buffered);
  if (t_) t_->used += n;
  if (c_) {
    if (c_->holder_pos == SIZE_MAX) core_->clients.holder_add(c_);
    c_->buffered += n;
  }
}

void Charge::release() {
  if (!core_ || n_ == 0) return;
  core_->buffered -= n_;
  core_->m.buffered_bytes = static_cast<int64_t>(core_->buffered);
  if (t_) t_->used -= n_;
  if (c_) c_->buffered -= n_;
  n_ = 0;
}

bool Core::reclaim(size_t need, const ClientCounts* mine, const TunnelBudget* own) {
  const size_t floor = (mine ? mine->buffered : 0) + need;
  for (int round = 0; buffered + need > cfg.max_buffered_bytes; ++round) {
    if (round == 64) return false;  // bounded work for one request
    ClientCounts* top = clients.largest_holder();
    if (!top || top == mine || top->buffered <= floor) return false;
    Endpoint* victim = nullptr;
    size_t most = 0;
    for (ClientMember* member : top->members) {
      auto* e = static_cast<Endpoint*>(member);
      const TunnelBudget* b = e->budget_in_use();
      if (b && b != own && b->used > most) {
        most = b->used;
        victim = e;
      }
    }
    if (!victim) return false;
    victim->evict();
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Tunnel

Tunnel::Tunnel(Core& core, const TunnelId& id, bool signal_connection)
    : core_(core),
      id_(id),
      signal_connection_(signal_connection),
      created_(Clock::now()),
      last_activity_(created_),
      timer_(core.ioc) {
  ++core_.tunnels_live;
}

void Tunnel::set_gauges(bool waiting, bool active) {
  if (waiting != counted_waiting_) core_.m.tunnels_waiting += waiting ? 1 : -1;
  if (active != counted_active_) core_.m.tunnels_active += active ? 1 : -1;
  counted_waiting_ = waiting;
  counted_active_ = active;
}

void Tunnel::stop_waiting() {
  --core_.waiting_or_reserved;
  if (!waiting_client_.empty()) {
    core_.clients.count(waiting_client_, &ClientCounts::waiting, -1);
    waiting_client_.clear();
  }
}

void Tunnel::claim(int side) {
  claimed_[side] = true;
  if (side == kFirst) {
    ++core_.waiting_or_reserved;
    arm();
  }
}

void Tunnel::opened(int side, std::shared_ptr<Endpoint> ep) {
  ep_[side] = std::move(ep);
  open_[side] = true;
  if (ended_) {
    ep_[side]->close(end_code_[side], "tunnel ended");
    return;
  }
  if (side == kFirst) opened_at_ = Clock::now();
  if (open_[kFirst] && open_[kSecond]) pair();
  else if (side == kFirst) set_gauges(true, false);
}

void Tunnel::setup_failed(int side, const char* outcome) {
  if (side == kFirst) end(outcome, close_code::going_away, close_code::going_away, "upgrade failed");
  claimed_[side] = false;
  maybe_finalize();
}

void Tunnel::violation(int side, uint16_t code, const char* which) {
  core_.limit_hit(which, {{"tunnel", tag()}, {"side", side == kFirst ? "first" : "second"}});
  end("violation", code, code, which);
}

void Tunnel::pair() {
  paired_ = true;
  paired_at_ = last_activity_ = Clock::now();
  stop_waiting();
  set_gauges(false, true);
  ++core_.m.tunnels_paired;
  core_.m.pairing_latency.observe(std::chrono::duration<double>(paired_at_ - opened_at_).count());
  ep_[kFirst]->paired();
  ep_[kSecond]->paired();
  if (signal_connection_) {
    Message sig;
    auto b = sig.buf.prepare(1);
    *static_cast<uint8_t*>(b.data()) = 0x00;
    sig.buf.commit(1);
    ep_[kFirst]->send(std::move(sig));
  }
  // The second side can only have sent something first if it opened before the first side did
  // (a phone woken through a webhook may join before the parked desktop's 101 went out).
  for (int s : {kSecond, kFirst}) {
    for (auto& m : pending_[s]) ep_[1 - s]->send(std::move(m));
    pending_[s].clear();
    pending_[s].shrink_to_fit();
    pending_bytes_[s] = 0;
  }
  if (core_.log.item(Level::debug, "tunnel_paired"))
    core_.log.log(Level::debug, "tunnel_paired",
                  {{"tunnel", tag()},
                   {"pairing_ms", std::chrono::duration<double, std::milli>(paired_at_ - opened_at_).count()}});
  arm();
}

bool Tunnel::message(int side, Message&& m) {
  if (ended_) return false;
  const size_t n = m.size();
  ++messages_;
  bytes_ += n;
  if ((core_.cfg.max_tunnel_messages && messages_ > core_.cfg.max_tunnel_messages)) {
    limit("tunnel_messages");
    return false;
  }
  if (core_.cfg.max_tunnel_bytes && bytes_ > core_.cfg.max_tunnel_bytes) {
    limit("tunnel_bytes");
    return false;
  }
  last_activity_ = Clock::now();
  ++core_.m.messages_relayed;
  core_.m.bytes_relayed += n;
  const int other = 1 - side;
  if (paired_) {
    ep_[other]->send(std::move(m));
    blocked_[side] = true;  // read on once the peer has written it: one message in flight per direction
    return false;
  }
  if (pending_[side].size() + 1 > core_.cfg.max_pending_messages ||
      pending_bytes_[side] + n > core_.cfg.max_pending_bytes) {
    limit("pending_buffer");
    return false;
  }
  pending_bytes_[side] += n;
  pending_[side].push_back(std::move(m));
  return true;
}

void Tunnel::drained(int side) {
  const int other = 1 - side;
  if (blocked_[other]) {
    blocked_[other] = false;
    if (open_[other] && !gone_[other] && !ended_) ep_[other]->resume_reading();
  }
}

void Tunnel::left(int side, uint16_t code, bool vanished) {
  gone_[side] = true;
  if (ended_) return;
  uint16_t peer_code = vanished ? close_code::going_away : code;
  if (peer_code == 0 || peer_code == 1005 || peer_code == 1006) peer_code = close_code::normal;
  const char* outcome = paired_ ? (vanished ? "vanished" : "closed") : "abandoned";
  if (side == kFirst) end(outcome, code, peer_code, vanished ? "first side vanished" : "first side closed");
  else end(outcome, peer_code, code, vanished ? "second side vanished" : "second side closed");
}

void Tunnel::limit(const char* which) {
  core_.limit_hit(which, {{"tunnel", tag()}, {"messages", messages_}, {"bytes", bytes_}});
  end("limit", close_code::policy, close_code::policy, which);
}

void Tunnel::evict() {
  auto self = shared_from_this();
  limit("buffer_pressure");
  for (int s : {kFirst, kSecond})
    if (ep_[s] && !released_[s]) ep_[s]->shed();
}

void Tunnel::end(const char* outcome, uint16_t code_first, uint16_t code_second, const char* why) {
  if (ended_) return;
  ended_ = true;
  ended_at_ = Clock::now();
  outcome_ = outcome;
  if (!paired_ && claimed_[kFirst]) stop_waiting();
  set_gauges(false, false);
  core_.unregister(*this);
  end_code_[kFirst] = code_first;
  end_code_[kSecond] = code_second;
  for (int s : {kFirst, kSecond}) {
    pending_[s].clear();
    pending_bytes_[s] = 0;
  }
  auto self = shared_from_this();  // closing may finish sessions synchronously
  for (int s : {kFirst, kSecond})
    if (open_[s] && !gone_[s]) ep_[s]->close(end_code_[s], why);
  arm();
  maybe_finalize();
}

void Tunnel::released(int side) {
  released_[side] = true;
  gone_[side] = true;
  if (!ended_) left(side, close_code::going_away, true);
  ep_[side].reset();
  maybe_finalize();
}

void Tunnel::maybe_finalize() {
  if (finalized_ || !ended_) return;
  for (int s : {kFirst, kSecond})
    if (claimed_[s] && !released_[s]) return;
  finalized_ = true;
  --core_.tunnels_live;
  timer_.cancel();
  ++core_.m.tunnels_finished[outcome_];
  auto now = Clock::now();
  core_.m.tunnel_duration.observe(std::chrono::duration<double>(now - created_).count());
  // The fields are not built for a line nobody gets (or one over the per-item line budget).
  if (!core_.log.item(Level::info, "tunnel_finished")) return;
  core_.log.log(Level::info, "tunnel_finished",
                {{"tunnel", tag()},
                 {"outcome", outcome_},
                 {"paired", paired_},
                 {"messages", messages_},
                 {"bytes", bytes_},
                 {"duration_ms", std::chrono::duration<double, std::milli>(now - created_).count()}});
}

void Tunnel::arm() {
  if (finalized_) return;
  const auto& c = core_.cfg;
  Clock::time_point d;
  if (ended_) {
    d = ended_at_ + secs(c.close_timeout);
  } else {
    d = created_ + secs(c.tunnel_lifetime);
    if (!paired_) d = std::min(d, created_ + secs(c.wait_timeout));
    else d = std::min(d, last_activity_ + secs(c.idle_timeout));
  }
  // A pending wait that fires no later than `d` stays: on_timer checks every deadline against the
  // current state and arms the next one. So the pairing (wait deadline -> idle deadline, later)
  // costs no timer cancel and re-schedule; only an earlier deadline re-arms now.
  if (armed_for_ != Clock::time_point{} && armed_for_ <= d) return;
  armed_for_ = d;
  timer_.expires_at(d);
  timer_.async_wait([self = shared_from_this(), d](const boost::system::error_code& ec) {
    if (ec || self->armed_for_ != d) return;
    self->armed_for_ = {};
    self->on_timer();
  });
}

void Tunnel::on_timer() {
  auto now = Clock::now();
  const auto& c = core_.cfg;
  if (ended_) {
    if (now < ended_at_ + secs(c.close_timeout)) return arm();  // an earlier wait that was kept
    // Sides that did not finish closing in time (slow readers, no close reply): drop them.
    for (int s : {kFirst, kSecond})
      if (ep_[s] && !released_[s]) ep_[s]->abort();
    return;
  }
  if (!paired_ && now >= created_ + secs(c.wait_timeout)) return limit("wait_timeout");
  if (now >= created_ + secs(c.tunnel_lifetime)) return limit("tunnel_lifetime");
  if (paired_ && now >= last_activity_ + secs(c.idle_timeout)) return limit("idle_timeout");
  arm();
}

// ---------------------------------------------------------------------------------------------
// Core

Core::Core(boost::asio::io_context& io, Config c)
    : ioc(io),
      cfg(std::move(c)),
      rl_new(cfg.rate_new, cfg.rate_new_burst, cfg.rate_table_size),
      rl_connect(cfg.rate_connect, cfg.rate_connect_burst, cfg.rate_table_size),
      rl_reattach(cfg.rate_reattach, cfg.rate_reattach_burst, cfg.rate_table_size),
      contact_sweep_timer(std::make_unique<boost::asio::steady_timer>(io)) {
  // What the book changes on its own (a TTL is over) goes to the store and the log.
  contacts.on_expired = [this](const std::string& id, const Contact& expired) {
    persist(id, expired);
    set_contact_gauges();
    if (log.item(Level::info, "contact_expired"))
      log.log(Level::info, "contact_expired", {{"contact", contact_tag(id)}});
  };
  contacts.on_forgotten = [this](const std::string& id) {
    if (writer)
      writer->remove(id, [this, tag = contact_tag(id)](bool ok) {
        if (!ok) store_failed(tag);
      });
    set_contact_gauges();
  };
  apply_limits();
}

void Core::apply_limits() {
  clients.set_network_prefixes(std::min(cfg.network_prefix_v4, cfg.client_prefix_v4),
                               std::min(cfg.network_prefix_v6, cfg.client_prefix_v6));
  rl_new.configure(cfg.rate_new, cfg.rate_new_burst, cfg.rate_table_size);
  rl_connect.configure(cfg.rate_connect, cfg.rate_connect_burst, cfg.rate_table_size);
  rl_reattach.configure(cfg.rate_reattach, cfg.rate_reattach_burst, cfg.rate_table_size);
  max_tunnel_buffer = cfg.max_tunnel_buffer ? cfg.max_tunnel_buffer
                                            : 2 * cfg.max_message_size + cfg.max_pending_bytes;
  max_client_buffer = cfg.max_client_buffer ? cfg.max_client_buffer
                                            : std::max(cfg.max_buffered_bytes / 8, max_tunnel_buffer);
  contacts.configure({secs(cfg.contact_ttl), secs(cfg.unused_contact_ttl), cfg.max_contacts});
  admission_limits = {.max_waiting_tunnels = cfg.max_waiting_tunnels,
                      .max_waiting_per_client = cfg.max_waiting_per_client,
                      .max_waiting_per_network = cfg.max_waiting_per_network,
                      .max_contacts_per_client = cfg.max_contacts_per_client,
                      .max_contacts_per_network = cfg.max_contacts_per_network,
                      .max_webhook_in_flight = cfg.max_webhook_in_flight};
  max_connections = cfg.max_connections;
  if (max_connections == 0) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    max_connections = rl.rlim_cur > 128 ? rl.rlim_cur - 64 : 64;
  }
  log.set_item_rate(cfg.log_rate);
  publish_limits();
}

void Core::publish_limits() {
  auto d = [](auto v) { return static_cast<double>(v); };
  m.limits = {
      {"client_prefix_v4", d(cfg.client_prefix_v4)},
      {"client_prefix_v6", d(cfg.client_prefix_v6)},
      {"network_prefix_v4", d(std::min(cfg.network_prefix_v4, cfg.client_prefix_v4))},
      {"network_prefix_v6", d(std::min(cfg.network_prefix_v6, cfg.client_prefix_v6))},
      {"max_message_size", d(cfg.max_message_size)},
      {"max_tunnel_messages", d(cfg.max_tunnel_messages)},
      {"max_tunnel_bytes", d(cfg.max_tunnel_bytes)},
      {"max_pending_messages", d(cfg.max_pending_messages)},
      {"max_pending_bytes", d(cfg.max_pending_bytes)},
      {"max_unpaired_message_size", d(cfg.max_unpaired_message_size)},
      {"max_tunnel_buffer", d(max_tunnel_buffer)},
      {"max_buffered_bytes", d(cfg.max_buffered_bytes)},
      {"max_client_buffer", d(max_client_buffer)},
      {"wait_timeout", cfg.wait_timeout},
      {"tunnel_lifetime", cfg.tunnel_lifetime},
      {"idle_timeout", cfg.idle_timeout},
      {"upgrade_timeout", cfg.upgrade_timeout},
      {"request_timeout", cfg.request_timeout},
      {"close_timeout", cfg.close_timeout},
      {"drain_timeout", cfg.drain_timeout},
      {"max_header_size", d(cfg.max_header_size)},
      {"max_waiting_tunnels", d(cfg.max_waiting_tunnels)},
      {"max_connections", d(max_connections)},
      {"rate_new", cfg.rate_new},
      {"rate_new_burst", cfg.rate_new_burst},
      {"rate_connect", cfg.rate_connect},
      {"rate_connect_burst", cfg.rate_connect_burst},
      {"rate_table_size", d(cfg.rate_table_size)},
      {"max_connections_per_client", d(cfg.max_connections_per_client)},
      {"max_waiting_per_client", d(cfg.max_waiting_per_client)},
      {"max_contacts_per_client", d(cfg.max_contacts_per_client)},
      {"max_connections_per_network", d(cfg.max_connections_per_network)},
      {"max_waiting_per_network", d(cfg.max_waiting_per_network)},
      {"max_contacts_per_network", d(cfg.max_contacts_per_network)},
      {"rate_reattach", cfg.rate_reattach},
      {"rate_reattach_burst", cfg.rate_reattach_burst},
      {"max_webhook_in_flight", d(cfg.max_webhook_in_flight)},
      {"max_contacts", d(cfg.max_contacts)},
      {"contact_ttl", cfg.contact_ttl},
      {"unused_contact_ttl", std::min(cfg.unused_contact_ttl, cfg.contact_ttl)},
      {"listen_idle_timeout", cfg.listen_idle_timeout},
      {"wake_webhook_timeout", cfg.wake_webhook_timeout},
      {"log_rate", cfg.log_rate},
  };
}

void Core::reject(const char* reason, int status, const std::string& ip) {
  ++m.rejections[reason];
  log.log_throttled(Level::info, std::string("reject:") + reason, "rejected",
                    {{"reason", reason}, {"status", status}, {"client", ip}});
}

void Core::limit_hit(const char* which, nlohmann::json fields) {
  ++m.limit_hits[which];
  fields["limit"] = which;
  log.log_throttled(Level::warn, std::string("limit:") + which, "limit_hit", std::move(fields));
}

void Core::unregister(Tunnel& t) {
  tunnels.remove(t.id(), &t);
}

void Core::drain_all() {
  for (auto& t : tunnels.snapshot()) t->end("drained", close_code::going_away, close_code::going_away, "relay shutting down");
}

void Core::close_listeners() {
  std::vector<std::shared_ptr<Listener>> all;
  for (auto& [id, c] : contacts.all())
    if (auto l = c.listener.lock()) all.push_back(std::move(l));
  for (auto& l : all) l->close(close_code::service_restart, "relay restarting");
}

namespace {
// Takes one token; the admission decision asks only when it gets to the limiter.
RateVerdict take(RateLimiter& rl, const std::string& key) {
  if (rl.allow(key)) return RateVerdict::allowed;
  return rl.table_full() ? RateVerdict::table_full : RateVerdict::limited;
}
}  // namespace

WaitingCounts Core::waiting_counts(const RequestInfo& r) const {
  WaitingCounts w;
  w.relay = waiting_or_reserved;
  w.client = r.client ? r.client->waiting : clients.value(r.client_key, &ClientCounts::waiting);
  w.network = r.client ? clients.network_value(*r.client, &ClientCounts::waiting)
                       : clients.network_value(r.client_key, &ClientCounts::waiting);
  return w;
}

nlohmann::json Core::limit_fields(std::string_view which, const RequestInfo& r, const std::string* contact) {
  if (which == "max_waiting_tunnels") return nlohmann::json{{"waiting", waiting_or_reserved}};
  if (which == "max_contacts") return nlohmann::json{{"contacts", contacts.size()}};
  if (which == "webhook_in_flight") return nlohmann::json{{"in_flight", m.webhook_in_flight}};
  nlohmann::json f = {{"client", r.client_ip}};
  if (contact) f["contact"] = contact_tag(*contact);  // a per-contact limit (rate_reattach)
  if (which.starts_with("network_")) f["network"] = clients.network_key(r.client_key);
  return f;
}

Admission Core::refuse(const RequestInfo& r, const Verdict& v, const std::string* contact) {
  if (v.limit) limit_hit(v.limit, limit_fields(v.limit, r, contact));
  return refuse(r, v.status, v.reason);
}

Admission Core::refuse(const RequestInfo& r, int status, const char* reason) {
  Admission a;
  a.status = status;
  a.reason = reason;
  reject(reason, status, r.client_ip);
  return a;
}

Admission Core::admit(const RequestInfo& r, AdmissionCallback later) {
  constexpr std::string_view kListen = "/cable/listen";
  if (r.target.starts_with(kListen) && (r.target.size() == kListen.size() || r.target[kListen.size()] == '/')) {
    if (auto v = judge_path(r.is_get, PathKind::listen); !v.accepted()) return refuse(r, v);
    return admit_listen(r, r.target.substr(kListen.size()), std::move(later));
  }
  auto path = tunnel_domain::parse_path(r.target);
  using PK = tunnel_domain::TunnelPath::Kind;
  const PathKind kind = !path                     ? PathKind::unknown
                        : path->kind == PK::Contact ? PathKind::contact
                        : path->kind == PK::New     ? PathKind::new_tunnel
                                                    : PathKind::connect;
  if (auto v = judge_path(r.is_get, kind); !v.accepted()) return refuse(r, v);
  if (kind == PathKind::contact) return admit_contact(r, std::move(path->contact_id), std::move(later));
  Admission a;
  a.is_new = kind == PathKind::new_tunnel;
  if (a.is_new) {
    NewTunnelFacts f;
    f.is_upgrade = r.is_upgrade;
    f.offers_fido_cable = r.offers_fido_cable;
    f.draining = draining;
    f.rate = [&] { return take(rl_new, r.client_key); };
    f.waiting = waiting_counts(r);
    f.tunnel_exists = tunnels.contains(path->tunnel_id);
    if (auto v = judge(f, admission_limits); !v.accepted()) return refuse(r, v);
    auto t = std::make_shared<Tunnel>(*this, path->tunnel_id);
    tunnels.add(path->tunnel_id, t);
    t->claim(Tunnel::kFirst);
    if (r.client) clients.add(*r.client, &ClientCounts::waiting, +1);
    else clients.count(r.client_key, &ClientCounts::waiting, +1);
    t->set_waiting_client(r.client_key);
    a.tunnel = std::move(t);
    a.side = Tunnel::kFirst;
    return a;
  }
  auto t = tunnels.find(path->tunnel_id);
  JoinFacts f;
  f.is_upgrade = r.is_upgrade;
  f.offers_fido_cable = r.offers_fido_cable;
  f.draining = draining;
  f.routing_id_matches = path->routing_id == rid;
  f.rate = [&] { return take(rl_connect, r.client_key); };
  f.tunnel_found = t != nullptr;
  f.second_side_claimed = t && t->claimed(Tunnel::kSecond);
  if (auto v = judge(f, admission_limits); !v.accepted()) return refuse(r, v);
  t->claim(Tunnel::kSecond);
  a.tunnel = std::move(t);
  a.side = Tunnel::kSecond;
  return a;
}

// ---------------------------------------------------------------------------------------------
// Linked phones (docs/linking.md)

std::string contact_tag(std::string_view contact) { return tunnel_tag(as_bytes(contact).data(), contact.size()); }

namespace {
bool header_true(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.size() != 4) return false;
  auto lower = [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); };
  return lower(v[0]) == 't' && lower(v[1]) == 'r' && lower(v[2]) == 'u' && lower(v[3]) == 'e';
}
constexpr size_t kContactIdSize = 25;  // "hg" + 6 hex + "." + 16 random bytes
}  // namespace

namespace {
int64_t wall_ms(Clock::time_point t) {
  const auto now_wall = std::chrono::system_clock::now();
  const auto wall = now_wall - std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - t);
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
}
}  // namespace

void Core::persist(const std::string& id, const Contact& c, std::function<void(bool)> done) {
  if (!writer) {  // no --state-dir: memory only, "durable" at once
    if (done) done(true);
    return;
  }
  StoredContact s;
  s.id = id;
  s.token_hash = c.token_hash;
  s.revoked = c.revoked;
  s.used = c.used;
  s.attached = !c.listener.expired();
  s.owner = c.owner;
  s.last_seen_ms = wall_ms(c.last_seen);
  writer->put(std::move(s), [this, tag = contact_tag(id), done = std::move(done)](bool ok) {
    if (!ok) store_failed(tag);
    if (done) done(ok);
  });
}

void Core::store_failed(const std::string& tag) {
  ++m.store_errors;
  log.log(Level::error, "contact_store_failed", {{"contact", tag}, {"error", "the change could not be committed"}});
}

Status Core::load_contacts() {
  const auto now = Clock::now();
  const auto now_wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<std::string> expired;
  HG_CHECK(store.load([&](StoredContact&& s) {
    Contact c;
    c.token_hash = s.token_hash;
    c.revoked = s.revoked;
    c.used = s.used;
    c.owner = std::move(s.owner);
    // A listener attached when the relay stopped (or was killed) was there until then: its TTL
    // starts now. Otherwise from the stored time (never in the future).
    const int64_t age_ms = s.attached ? 0 : std::max<int64_t>(0, now_wall_ms - s.last_seen_ms);
    c.last_seen = now - std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(age_ms));
    if (!contacts.restore(s.id, std::move(c), now)) expired.push_back(std::move(s.id));
  }));
  for (auto& id : expired) HG_CHECK(store.remove(id));
  set_contact_gauges();
  log.log(Level::info, "contacts_loaded", {{"contacts", contacts.size()}, {"expired", expired.size()}});
  return ok_status();
}

void Core::set_contact_gauges() {
  m.contacts_registered = static_cast<int64_t>(contacts.live());
  m.contacts_revoked = static_cast<int64_t>(contacts.revoked());
}

void Core::sweep_contacts() {
  // The writer commits the sweep's changes together (group commit).
  contacts.sweep(Clock::now());
  set_contact_gauges();
}

void Core::start_contact_sweeper() {
  if (!contact_sweep_timer) return;
  contact_sweep_timer->expires_after(std::min({secs(60), secs(cfg.contact_ttl), secs(cfg.unused_contact_ttl)}));
  contact_sweep_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    sweep_contacts();
    start_contact_sweeper();
  });
}

Admission Core::admit_listen(const RequestInfo& r, std::string_view rest, AdmissionCallback later) {
  // rest: "" (new registration) or "/<b64url contact ID>"
  ListenFacts f;
  f.empty_id = rest == "/";
  f.is_upgrade = r.is_upgrade;
  f.offers_fido_cable = r.offers_fido_cable;
  std::array<uint8_t, 32> hash{};
  if (auto token = hex_decode_fixed<32>(r.contact_token)) {
    f.token_ok = true;
    const auto digest = crypto::sha256(ByteView(token->data(), token->size()));
    secure_wipe(*token);
    std::copy(digest.begin(), digest.end(), hash.begin());
  }
  f.draining = draining;
  f.revoke = header_true(r.revoke);
  std::string id;  // re-attach: the contact ID bytes
  if (!rest.empty() && !f.empty_id) {
    rest.remove_prefix(1);
    std::optional<Bytes> id_bytes;
    if (rest.find_first_of("=/") == std::string_view::npos)
      if (auto decoded = base64url_decode(rest)) id_bytes = std::move(*decoded);
    if (!id_bytes) {
      f.id = ListenFacts::Id::malformed;
    } else {
      id = to_string(*id_bytes);
      f.id = id.size() == kContactIdSize && id.starts_with(contact_prefix_bytes) ? ListenFacts::Id::ok
                                                                               : ListenFacts::Id::wrong_routing_id;
    }
  }
  if (f.id == ListenFacts::Id::none) {
    // Creating a contact costs the client's rate allowance and a slot in the bounded book.
    f.rate = [&] { return take(rl_new, r.client_key); };
    f.client_contacts = clients.value(r.client_key, &ClientCounts::contacts);
    f.network_contacts = r.client ? clients.network_value(*r.client, &ClientCounts::contacts)
                                  : clients.network_value(r.client_key, &ClientCounts::contacts);
    f.make_room = [&] { return contacts.make_room(Clock::now()); };
  } else {
    f.rate = [&] { return take(rl_reattach, id); };
    f.lookup = [&] {
      ContactLookup l;
      const Contact* c = contacts.find(id, Clock::now());
      l.known = c != nullptr;
      l.revoked = c && c->revoked;
      l.token_matches =
          c && ct_equal(ByteView(c->token_hash.data(), c->token_hash.size()), ByteView(hash.data(), hash.size()));
      return l;
    };
  }
  if (auto v = judge(f, admission_limits); !v.accepted()) {
    if (std::string_view(v.reason) == "wrong_contact_token")
      log.log_throttled(Level::warn, "contact_wrong_token", "contact_wrong_token",
                        {{"contact", contact_tag(id)}, {"client", r.client_ip}});
    return refuse(r, v, f.id == ListenFacts::Id::ok ? &id : nullptr);
  }
  // With a store, the answer waits until the change is durable (deferred: `later` gets it); a
  // change that cannot be written is a 503, never a 101.
  auto store_refusal = [this, ip = r.client_ip]() {
    Admission b;
    b.status = 503;
    b.reason = "contact_store_failed";
    reject(b.reason, b.status, ip);
    return b;
  };
  auto add_contact = [&](const std::string& new_id, std::function<void(bool)> done) {
    Contact c;
    c.token_hash = hash;
    c.last_seen = Clock::now();
    c.owner = r.client_key;
    // Counted (and in the book) while it is written.
    persist(new_id, contacts.add(new_id, std::move(c)), std::move(done));
    set_contact_gauges();
    if (log.item(Level::info, "contact_registered"))
      log.log(Level::info, "contact_registered", {{"contact", contact_tag(new_id)}, {"client", r.client_ip}});
  };
  Admission a;
  a.kind = Admission::Kind::listen;
  a.is_new = false;
  if (f.id == ListenFacts::Id::none) {
    id = contact_prefix_bytes;
    const auto rnd = crypto::random_array<16>();
    id.append(reinterpret_cast<const char*>(rnd.data()), rnd.size());
    a.contact_b64 = base64url_encode(as_bytes(id));
    a.contact = id;
    if (!writer || !later) {
      add_contact(id, nullptr);
      return a;
    }
    add_contact(id, [this, id, a, later, store_refusal](bool ok) mutable {
      if (ok) return later(std::move(a));
      // Not durable: not registered.
      contacts.withdraw(id);
      set_contact_gauges();
      later(store_refusal());
    });
    Admission pending;
    pending.deferred = true;
    return pending;
  }
  a.contact_b64 = base64url_encode(as_bytes(id));
  a.contact = id;
  if (f.revoke) {
    a.revoke = true;
    if (!writer || !later) {
      revoke(id, "header");
      return a;
    }
    revoke(id, "header", [a, later, store_refusal](bool ok) mutable {
      if (ok) later(std::move(a));
      else later(store_refusal());  // not durable: not revoked
    });
    Admission pending;
    pending.deferred = true;
    return pending;
  }
  return a;
}

void Core::listener_opened(const std::string& key, const std::shared_ptr<Listener>& l, bool revoked_at_admission) {
  ++m.upgrades_listen;
  Contact* found = contacts.get(key);
  if (revoked_at_admission || !found || found->revoked) {
    l->close(close_code::normal, "contact revoked");
    return;
  }
  Contact& c = *found;
  auto old = c.listener.lock();
  if (!c.listener_id) ++m.listeners_open;  // a replacement keeps the count
  c.listener = l;
  c.listener_id = l.get();
  c.last_seen = Clock::now();
  if (!c.attached_stored) {
    c.attached_stored = true;
    persist(key, c, [this, key](bool ok) {
      if (ok) return;
      if (Contact* stored = contacts.get(key)) stored->attached_stored = false;
    });
  }
  if (old && old.get() != l.get()) {
    if (log.item(Level::info, "listener_replaced")) log.log(Level::info, "listener_replaced", {{"contact", contact_tag(key)}});
    old->close(close_code::normal, "replaced by a newer listener");
  } else {
    if (log.item(Level::info, "listener_attached")) log.log(Level::info, "listener_attached", {{"contact", contact_tag(key)}});
  }
}

void Core::listener_closed(const std::string& key, const Listener* l) {
  Contact* c = contacts.get(key);
  if (!c || c->listener_id != l) return;
  c->listener.reset();
  c->listener_id = nullptr;
  c->last_seen = Clock::now();
  // While draining the relay is going away: the store keeps "attached", so the contact's TTL
  // starts afresh at the next start, the same outcome without one fsync per listener.
  if (!draining) {
    persist(key, *c);
    c->attached_stored = false;
  }
  --m.listeners_open;
  if (log.item(Level::info, "listener_detached")) log.log(Level::info, "listener_detached", {{"contact", contact_tag(key)}});
}

void Core::listener_text(const std::string& key, const Listener* l, std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("revoke") && j["revoke"] == true) {
    Contact* c = contacts.get(key);
    if (!c || c->listener_id != l) return;
    revoke(key, "message", [this, key, l](bool ok) {
      if (ok) return;
      // Not durable, so not revoked: 1011, not the 1000 that confirms a revocation.
      Contact* now = contacts.get(key);
      if (!now || now->listener_id != l) return;
      if (auto live = now->listener.lock()) live->close(close_code::internal_error, "contact store failed");
    });
    return;
  }
  log.log_throttled(Level::debug, "listener_unknown_message", "listener_unknown_message", {{"contact", contact_tag(key)}});
}

void Core::revoke(const std::string& key, const char* how, std::function<void(bool)> done) {
  const Contact* c = contacts.get(key);
  if (!c) {
    if (done) done(true);
    return;
  }
  // Durable first: a revocation that cannot be written is not made (the phone is told so).
  Contact copy = *c;
  copy.revoked = true;
  copy.last_seen = Clock::now();
  copy.listener.reset();
  persist(key, copy, [this, key, how = std::string(how), done = std::move(done)](bool ok) {
    if (ok) apply_revocation(key, how);
    if (done) done(ok);
  });
}

void Core::apply_revocation(const std::string& key, const std::string& how) {
  Contact* found = contacts.get(key);
  if (!found) return;
  Contact& c = *found;
  if (contacts.revoke(key, Clock::now())) {  // was live: no longer counted by its owner's cap
    ++m.contacts_revoked_total;
    set_contact_gauges();
  }
  auto l = c.listener.lock();
  if (l) {
    c.listener.reset();
    c.listener_id = nullptr;
    c.attached_stored = false;
    --m.listeners_open;
  }
  if (log.item(Level::info, "contact_revoked")) log.log(Level::info, "contact_revoked", {{"contact", contact_tag(key)}, {"via", how}});
  if (l) l->close(close_code::normal, "contact revoked");
}

Admission Core::admit_contact(const RequestInfo& r, Bytes contact_id, AdmissionCallback later) {
  const std::string key = to_string(contact_id);
  ContactFacts f;
  f.is_upgrade = r.is_upgrade;
  f.offers_fido_cable = r.offers_fido_cable;
  f.draining = draining;
  f.rate = [&] { return take(rl_new, r.client_key); };
  auto payload = messages::parse_client_payload_header(r.client_payload);
  auto payload_bytes = hex_decode(r.client_payload);
  f.payload_ok = payload && payload_bytes;
  Contact* c = nullptr;
  std::shared_ptr<Listener> listener;
  f.lookup = [&] {
    c = contacts.find(key, Clock::now());
    listener = c ? c->listener.lock() : nullptr;
    ContactLookup l;
    l.known = c != nullptr;
    l.revoked = c && c->revoked;
    l.listening = listener != nullptr;
    return l;
  };
  f.has_webhook = webhook.has_value();
  f.waiting = waiting_counts(r);
  f.webhook_in_flight = static_cast<size_t>(m.webhook_in_flight);
  if (auto v = judge(f, admission_limits); !v.accepted()) {
    ++m.contact_requests[std::to_string(v.status)];
    return refuse(r, v);
  }
  const std::string tag = contact_tag(key);
  if (c && !c->used) {
    c->used = true;
    persist(key, *c);
  }
  TunnelId tid;
  do {
    tid = crypto::random_array<16>();
  } while (tunnels.contains(tid));
  const bool signal = header_true(r.signal_connection);
  auto t = std::make_shared<Tunnel>(*this, tid, signal);
  tunnels.add(tid, t);
  t->claim(Tunnel::kFirst);
  clients.count(r.client_key, &ClientCounts::waiting, +1);
  t->set_waiting_client(r.client_key);
  nlohmann::json wake = {{"caBLE.tunnelID", hex_encode(ByteView(tid.data(), tid.size()), true)},
                         {"caBLE.routingID", rid_hex},
                         {"caBLE.clientPayload", hex_encode(*payload_bytes, true)}};
  Admission a;
  a.tunnel = t;
  a.side = Tunnel::kFirst;
  a.is_new = false;
  a.is_contact = true;
  if (listener) {
    listener->send_text(wake.dump());
    ++m.wakeups["listen"];
    ++m.contact_requests["101"];
    if (log.item(Level::info, "wake_sent")) log.log(Level::info, "wake_sent", {{"channel", "listen"}, {"contact", tag}, {"tunnel", t->tag()}, {"signal", signal}});
    return a;
  }
  // Webhook: the answer (101, 410 or 503) waits for the gateway's.
  wake["contactID"] = base64url_encode(as_bytes(key));
  a.deferred = true;
  ++m.webhook_in_flight;
  post_webhook(*this, wake.dump(),
               [this, t, tag, signal, ip = r.client_ip, later = std::move(later)](int status, std::string error) {
                 --m.webhook_in_flight;
                 Admission b;
                 b.is_new = false;
                 const char* result;
                 if (status >= 200 && status < 300) {
                   result = "delivered";
                   b.tunnel = t;
                   b.side = Tunnel::kFirst;
                   b.is_contact = true;
                   ++m.wakeups["webhook"];
                   ++m.contact_requests["101"];
                 } else {
                   const bool gone = status == 404 || status == 410;
                   result = gone ? "gone" : status ? "refused" : "failed";
                   b.status = gone ? 410 : 503;
                   b.reason = gone ? "unknown_contact" : "wake_failed";
                   ++m.contact_requests[std::to_string(b.status)];
                   reject(b.reason, b.status, ip);
                   t->setup_failed(Tunnel::kFirst, "wake_failed");
                 }
                 ++m.webhook_results[result];
                 nlohmann::json fields = {{"channel", "webhook"}, {"contact", tag}, {"tunnel", t->tag()},
                                     {"http_status", status}, {"result", result}, {"signal", signal}};
                 if (!error.empty()) fields["error"] = error;
                 log.log(status >= 200 && status < 300 ? Level::info : Level::warn,
                         b.status ? "wake_failed" : "wake_sent", std::move(fields));
                 later(std::move(b));
               });
  return a;
}

}  // namespace hg::relay

namespace hg::relay {

bool offers_subprotocol(std::string_view header, std::string_view proto) {
  while (!header.empty()) {
    auto comma = header.find(',');
    auto tok = header.substr(0, comma);
    while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
    if (tok == proto) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}


}  // namespace hg::relay
