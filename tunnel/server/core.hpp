// SPDX-License-Identifier: Apache-2.0
// Internal: the relay's shared state (config, metrics, logs, limits) and the tunnel registry.
// Tunnel logic lives here and knows nothing about sockets or stream types: a connection is an
// Endpoint. One io_context, one thread: no locking.
//
// A tunnel has two sides. The *first* side creates it and may wait (the phone's /cable/new, or a
// desktop parked by /cable/contact under a random tunnel ID). The *second* side joins it
// (/cable/connect). Messages a side sends before the join are buffered (bounded) and delivered
// first. `signal_connection` makes the relay send the first side one 0x00 message at the join,
// before any buffered data, and echo X-caBLE-Signal-Connection.
//
// Linked phones (docs/linking.md): the contact book (contacts.hpp: contact ID -> SHA-256 of the
// phone's token, revoked flag, current listen connection) and the two wake channels (listener,
// webhook); Core writes the book's changes to the store and logs them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proto/bytes.hpp"
#include "proto/derive.hpp"
#include "tunnel/server/admission.hpp"
#include "tunnel/server/client_addr.hpp"
#include "tunnel/server/clients.hpp"
#include "tunnel/server/contacts.hpp"
#include "tunnel/server/tunnels.hpp"
#include "tunnel/server/log.hpp"
#include "tunnel/server/metrics.hpp"
#include "tunnel/server/rate_limit.hpp"
#include "tunnel/server/store.hpp"
#include "tunnel/server/relay.hpp"
#include "web/url.hpp"

namespace boost::asio::ssl {
class context;
}

namespace hg::relay {

struct Core;

// Memory budget (docs/relay.md, "Memory"): every message buffer's capacity is charged to the
// global budget (--max-buffered-bytes), to the share of the client (prefix) whose connection
// allocated it (--max-client-buffer) and, for tunnel traffic, to its tunnel's
// (--max-tunnel-buffer) from the moment it is allocated (a message still being read included)
// until it is freed. A connection that has not completed its HTTP request (TLS handshake
// included) is charged a fixed cost the same way. A Charge is that claim; it is released when it
// is destroyed. While a Charge is bound to a client entry, the entry stays in Core::clients.
struct TunnelBudget {
  size_t used = 0;
};
class Charge {
 public:
  Charge() = default;
  Charge(Core* core, std::shared_ptr<TunnelBudget> t, ClientCounts* client = nullptr);
  Charge(Charge&& o) noexcept : core_(o.core_), t_(std::move(o.t_)), c_(o.c_), n_(o.n_) {
    o.n_ = 0;
    o.c_ = nullptr;
  }
  Charge& operator=(Charge&& o) noexcept {
    if (this != &o) {
      release();
      unbind();
      core_ = o.core_;
      t_ = std::move(o.t_);
      c_ = o.c_;
      n_ = o.n_;
      o.n_ = 0;
      o.c_ = nullptr;
    }
    return *this;
  }
  Charge(const Charge&) = delete;
  Charge& operator=(const Charge&) = delete;
  ~Charge() {
    release();
    unbind();
  }
  size_t bytes() const { return n_; }
  // Charges `n` more bytes if every budget allows it; nullptr on success, else the limit's name.
  // When only the global budget is short, `may_reclaim` lets the relay close the tunnels of the
  // client holding the most first (Core::reclaim) if that client holds more than this one.
  const char* grow(size_t n, bool may_reclaim = true);
  void grow_unchecked(size_t n);
  void release();

 private:
  void unbind();
  Core* core_ = nullptr;
  std::shared_ptr<TunnelBudget> t_;
  ClientCounts* c_ = nullptr;
  size_t n_ = 0;
};

// One whole binary message, moved, never copied, with the budget charge of its buffer.
struct Message {
  boost::beast::flat_buffer buf;
  Charge charge;
  size_t size() const { return buf.size(); }
  auto data() const { return buf.data(); }
};

inline Clock::duration secs(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// Close codes (RFC 6455 §7.4.1) the relay uses.
namespace close_code {
inline constexpr uint16_t normal = 1000, going_away = 1001, unsupported_data = 1003, policy = 1008,
                          too_big = 1009, internal_error = 1011, service_restart = 1012;
}

// One upgraded WebSocket connection, as the tunnel sees it.
class Endpoint : public ClientMember {
 public:
  virtual ~Endpoint() = default;
  virtual void send(Message m) = 0;                             // queue one binary message
  virtual void close(uint16_t code, const char* reason) = 0;    // after queued messages; idempotent
  virtual void abort() = 0;                                     // drop the TCP connection now
  virtual void resume_reading() = 0;                            // the peer drained what we sent it
  virtual void paired() = 0;                                    // lift the before-pairing message limit
  // Memory pressure (Core::reclaim): the budget of this side's tunnel (nullptr if none, or ended);
  // evict() ends that tunnel (Tunnel::evict), whose sides shed(): release their charges now and
  // drop the connection (the buffers go when the session finishes, within this turn of the loop).
  virtual const TunnelBudget* budget_in_use() const = 0;
  virtual void evict() = 0;
  virtual void shed() = 0;
};

struct Core;

class Tunnel : public std::enable_shared_from_this<Tunnel> {
 public:
  static constexpr int kFirst = 0, kSecond = 1;
  Tunnel(Core& core, const TunnelId& id, bool signal_connection = false);

  // 8 hex digits of SHA-256 of the ID, computed when a log line first needs it (not per tunnel).
  const std::string& tag() const {
    if (tag_.empty()) tag_ = tunnel_tag(id_.data(), id_.size());
    return tag_;
  }
  const TunnelId& id() const { return id_; }
  bool ended() const { return ended_; }
  bool paired() const { return paired_; }
  bool open(int side) const { return open_[side]; }
  bool claimed(int side) const { return claimed_[side]; }
  bool signal_connection() const { return signal_connection_; }
  const std::shared_ptr<TunnelBudget>& budget() const { return budget_; }
  // The client whose waiting tunnel this is (per-client cap); released at the pairing or the end.
  void set_waiting_client(std::string key) { waiting_client_ = std::move(key); }

  // Admission: reserve a side before its 101 goes out.
  void claim(int side);
  // Session callbacks.
  void opened(int side, std::shared_ptr<Endpoint> ep);  // the 101 went out
  void setup_failed(int side, const char* outcome = "setup_failed");  // a claimed side never opened
  bool message(int side, Message&& m);                  // true: the sender may read on now
  void drained(int side);                               // side's outgoing queue became empty
  void left(int side, uint16_t code, bool vanished);    // side's connection closed or is closing
  void released(int side);                              // side's session has finished
  // Ends the tunnel: closes every open side with `code` (the first with code_first).
  void end(const char* outcome, uint16_t code_first, uint16_t code_second, const char* why);
  // A side broke a rule (text message -> 1003, oversized message -> 1009): both sides get `code`.
  void violation(int side, uint16_t code, const char* which);
  // A limit ended the tunnel: count it, log it once, close both sides with 1008.
  void limit(const char* which);
  // Memory pressure: limit("buffer_pressure"), then both sides release their charges and drop.
  void evict();

 private:
  void pair();
  void arm();
  void on_timer();
  void maybe_finalize();
  void set_gauges(bool waiting, bool active);
  void stop_waiting();

  Core& core_;
  std::shared_ptr<TunnelBudget> budget_ = std::make_shared<TunnelBudget>();
  TunnelId id_;
  mutable std::string tag_;  // see tag()
  bool signal_connection_;
  std::shared_ptr<Endpoint> ep_[2];
  bool claimed_[2] = {false, false}, open_[2] = {false, false}, gone_[2] = {false, false},
       released_[2] = {false, false}, blocked_[2] = {false, false};
  uint16_t end_code_[2] = {close_code::going_away, close_code::going_away};
  bool paired_ = false, ended_ = false, finalized_ = false;
  bool counted_waiting_ = false, counted_active_ = false;
  std::string outcome_;
  std::string waiting_client_;
  std::vector<Message> pending_[2];  // each side's messages before the join
  size_t pending_bytes_[2] = {0, 0};
  uint64_t messages_ = 0, bytes_ = 0;
  Clock::time_point created_, opened_at_, paired_at_, last_activity_, ended_at_;
  Clock::time_point armed_for_{};
  boost::asio::steady_timer timer_;
};


// What a request needs to be judged; filled by the session from the parsed HTTP request.
struct RequestInfo {
  bool is_get = false;
  std::string_view target;
  bool is_upgrade = false;
  bool offers_fido_cable = false;
  std::string client_ip;   // for logs
  std::string client_key;  // the client's prefix (client_addr.hpp): what limits and caps count by
  ClientCounts* client = nullptr;  // its entry in Core::clients (the session holds a count on it)
  // Linking headers (empty when absent).
  std::string_view contact_token;      // X-Hybridgate-Contact-Token
  std::string_view revoke;             // X-Hybridgate-Revoke
  std::string_view client_payload;     // X-caBLE-Client-Payload
  std::string_view signal_connection;  // X-caBLE-Signal-Connection
};

struct Admission {
  enum class Kind { tunnel, listen };
  int status = 0;          // 0 = accept; else the HTTP status to answer
  const char* reason = "";
  std::shared_ptr<Tunnel> tunnel;
  int side = Tunnel::kFirst;
  bool is_new = true;      // first side of a /cable/new tunnel (answers X-caBLE-Routing-ID)
  bool is_contact = false; // first side of a /cable/contact tunnel
  Kind kind = Kind::tunnel;
  bool deferred = false;   // the answer comes later, through the callback given to admit()
  // listen
  std::string contact;      // contact ID bytes (the table key)
  std::string contact_b64;  // for X-Hybridgate-Contact-ID
  bool revoke = false;      // revoked at admission: answer 101, then close 1000
};
using AdmissionCallback = std::function<void(Admission)>;

// The wake-up webhook (webhook.cpp): POSTs `body` to cfg.wake_webhook and calls `done` with the
// HTTP status, or 0 if the request failed or timed out.
void post_webhook(Core& core, std::string body, std::function<void(int status, std::string error)> done);

struct Core {
  Core(boost::asio::io_context& ioc, Config cfg);
  boost::asio::io_context& ioc;
  Config cfg;
  Logger log;
  Metrics m;
  std::array<uint8_t, 3> rid{};
  std::string rid_hex;  // upper case
  TunnelRegistry<Tunnel> tunnels;  // not yet ended (tunnels.hpp)
  size_t waiting_or_reserved = 0;  // first side claimed, not yet paired, not ended
  RateLimiter rl_new, rl_connect, rl_reattach;
  AdmissionLimits admission_limits;  // from cfg (apply_limits): what admission.hpp judges by
  // Per client and per network (the wider prefix, cfg.network_prefix_v4/v6): connections,
  // waiting tunnels, contacts, connections before their request and budget bytes (clients.hpp).
  ClientTable clients;
  // Frees `need` bytes of the global budget for a client holding `mine` by evicting the tunnels of
  // the client that holds the most, largest tunnel first, while that client holds more than
  // `mine + need`; never the tunnel `own`. True if the bytes are free now.
  bool reclaim(size_t need, const ClientCounts* mine, const TunnelBudget* own);
  size_t max_client_buffer = 0;  // cfg.max_client_buffer, or its automatic value
  // Resolves the automatic limits from cfg, configures the rate limiters and publishes m.limits
  // (every numeric option's effective value, by option name). At start and on SIGHUP.
  void apply_limits();
  void publish_limits();
  size_t conn_peak = 0;          // connections_open's high-water mark since the last malloc_trim
  bool draining = false;
  Clock::time_point drain_deadline{};
  size_t max_connections = 0;
  uint64_t next_conn_id = 0;
  size_t tunnels_live = 0;  // Tunnel objects not yet finalized (ended ones still closing count)
  std::vector<IpPrefix> trusted;  // cfg.trusted_proxies, parsed
  size_t buffered = 0;      // bytes charged to the global memory budget (Charge)
  size_t max_tunnel_buffer = 0;  // cfg.max_tunnel_buffer, or its automatic value

  // Contacts (docs/linking.md).
  // Declared after `clients`, which counts each owner's live contacts (contacts.hpp).
  ContactBook contacts{clients};
  std::string contact_prefix_bytes;  // "hg" + rid_hex + "."
  std::unique_ptr<boost::asio::steady_timer> contact_sweep_timer;  // reset before the io_context goes
  // --wake-webhook, parsed and validated at start (with its TLS client context for https://).
  std::optional<web::Url> webhook;
  std::shared_ptr<boost::asio::ssl::context> webhook_tls;

  // Gathers the request's facts, has admission.hpp judge them and performs the outcome (counts,
  // logs, the tunnel, the wake-up). `later` is called (once, later) only when the result has
  // deferred = true.
  Admission admit(const RequestInfo& r, AdmissionCallback later);
  void listener_opened(const std::string& contact, const std::shared_ptr<Listener>& l, bool revoked_at_admission);
  void listener_text(const std::string& contact, const Listener* l, std::string_view text);
  void listener_closed(const std::string& contact, const Listener* l);
  // Revokes once the revocation is durable; done(false): it could not be written (not revoked).
  void revoke(const std::string& contact, const char* how, std::function<void(bool)> done = nullptr);
  void apply_revocation(const std::string& contact, const std::string& how);
  // Contacts on disk (--state-dir): the writer thread commits changes (group commit); an answer
  // that depends on a change (a registration's 101, a revocation's) waits until it is durable.
  ContactStore store;
  std::unique_ptr<StoreWriter> writer;  // set once the contacts are loaded (--state-dir only)
  // Queues the contact's current state; done(ok) once durable or failed (a failure is logged and
  // counted). Without a store done(true) runs at once.
  void persist(const std::string& id, const Contact& c, std::function<void(bool)> done = nullptr);
  void store_failed(const std::string& tag);
  Status load_contacts();
  void sweep_contacts();
  void start_contact_sweeper();
  void set_contact_gauges();
  void reject(const char* reason, int status, const std::string& ip);
  void limit_hit(const char* which, nlohmann::json fields);
  void unregister(Tunnel& t);
  // Counted by code; a code outside the set the relay itself uses (a peer's code passed on) is
  // counted as "other", so clients cannot create label values.
  void sent_close(uint16_t code) {
    switch (code) {
      case 1000: case 1001: case 1003: case 1008: case 1009: case 1011: case 1012:
        ++m.close_codes[code];
        return;
      default:
        ++m.close_codes[0];
    }
  }
  // Drain deadline: end every tunnel with 1001.
  void drain_all();
  // Drain start: tell every listener the relay is restarting (1012): the phone reconnects, to
  // another node or to this one once it is back.
  void close_listeners();

 private:
  Admission admit_listen(const RequestInfo& r, std::string_view rest, AdmissionCallback later);
  Admission admit_contact(const RequestInfo& r, Bytes contact_id, AdmissionCallback later);
  Admission refuse(const RequestInfo& r, int status, const char* reason);
  // A refusal; a limit it names is counted and logged with the fields that limit is logged with
  // (`contact`: the contact a per-contact limit was hit for).
  Admission refuse(const RequestInfo& r, const Verdict& v, const std::string* contact = nullptr);
  nlohmann::json limit_fields(std::string_view which, const RequestInfo& r, const std::string* contact);
  WaitingCounts waiting_counts(const RequestInfo& r) const;
};

// 8 hex digits of SHA-256 of a contact ID: how logs name a contact.
std::string contact_tag(std::string_view contact);

}  // namespace hg::relay
