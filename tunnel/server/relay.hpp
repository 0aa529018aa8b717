// SPDX-License-Identifier: Apache-2.0
// hybridgate-relay: the caBLE v2 tunnel server (spec §5) as a library.
// Public header: no Boost.Beast or Asio here; the implementation is behind a pimpl.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proto/error.hpp"

namespace hg::relay {

// Every limit of the relay. Durations are in seconds (fractions allowed). 0 disables a
// limit only where the comment says so. Defaults are the documented defaults (docs/relay.md).
struct Config {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free port
  std::string admin_listen;               // empty = no admin listener
  std::string port_file;                  // if set, the bound port is written here once listening
  std::string admin_port_file;            // same for the admin listener
  std::string routing_id;                 // 6 hex; empty = random
  std::string tls_cert, tls_key;          // PEM files; both set = TLS listener
  std::vector<std::string> trusted_proxies;  // addresses or prefixes (a.b.c.d/n) whose X-Forwarded-For
                                             // entries are believed (rate limits, caps, logs)
  int client_prefix_v4 = 32;              // rate limits and caps apply per client prefix of this length
  int client_prefix_v6 = 64;
  int network_prefix_v4 = 24;             // the wider prefix the per-network caps count by (at most the
  int network_prefix_v6 = 48;             // client prefix's length)

  size_t max_message_size = 1 << 20;      // bytes per WebSocket message (Chromium's limit) -> 1009
  uint64_t max_tunnel_messages = 10000;   // messages per tunnel, both directions (0 = unlimited) -> 1008
  uint64_t max_tunnel_bytes = 64ull << 20;  // payload bytes per tunnel, both directions (0 = unlimited) -> 1008
  size_t max_pending_messages = 16;       // buffered before the peer joins -> 1008
  size_t max_pending_bytes = 64 << 10;
  size_t max_unpaired_message_size = 4096;  // a message before the peer joined (handshake: 81 bytes) -> 1009
  size_t max_tunnel_buffer = 0;           // message buffers of one tunnel, partial ones included
                                          // (0 = auto: 2 x max_message_size + max_pending_bytes) -> 1008
  size_t max_buffered_bytes = 128 << 20;  // message buffers of the whole relay -> 1008 for the tunnel that asks
                                          // (after the tunnels of the client holding the most were closed)
  size_t max_client_buffer = 0;           // share of max_buffered_bytes one client (prefix) may hold, connections
                                          // before their request included (0 = auto: max_buffered_bytes / 8,
                                          // at least max_tunnel_buffer) -> 1008 / connection dropped
  double wait_timeout = 120;              // phone waiting for the desktop -> 1008
  double tunnel_lifetime = 600;           // whole tunnel -> 1008
  double idle_timeout = 300;              // no message either way -> 1008
  double upgrade_timeout = 10;            // TCP accept to 101 (TLS handshake + HTTP request)
  double request_timeout = 3;             // TCP accept to the complete HTTP request header (TLS handshake included)
  double close_timeout = 5;               // WebSocket close handshake / flushing a slow reader
  double drain_timeout = 30;              // SIGTERM: time tunnels get to finish, then 1001
  size_t max_header_size = 8192;          // HTTP request header bytes -> 431 (connection closed)
  size_t max_waiting_tunnels = 10000;     // tunnels whose phone waits for a desktop -> 503
  size_t max_connections = 0;             // open client connections; 0 = auto (fd limit - 64) -> 503
  double rate_new = 20, rate_new_burst = 100;          // /cable/new per client IP per second (0 = off) -> 429
  double rate_connect = 20, rate_connect_burst = 100;  // /cable/connect per client IP per second (0 = off) -> 429
  size_t rate_table_size = 100000;        // client IPs tracked by the rate limiter
  // Per client (prefix, see client_prefix_v4/v6) caps -> 503.
  size_t max_connections_per_client = 256;     // open connections (counted from the HTTP request on); also the
                                               // connections one TCP peer may have before their request (more: dropped)
  size_t max_waiting_per_client = 64;          // tunnels waiting for their second side (/cable/new, /cable/contact)
  size_t max_contacts_per_client = 32;         // contacts registered (and not expired) from one client
  // Per network (prefix, see network_prefix_v4/v6) caps -> 503; 0 = no cap.
  size_t max_connections_per_network = 1024;   // like max_connections_per_client, for all clients of a network
  size_t max_waiting_per_network = 256;        // like max_waiting_per_client
  size_t max_contacts_per_network = 256;       // like max_contacts_per_client
  double rate_reattach = 1, rate_reattach_burst = 10;  // /cable/listen/<contact> per contact (0 = off) -> 429
  size_t max_webhook_in_flight = 256;          // wake-up webhook POSTs waiting for an answer -> 503
  std::string log_level = "info";         // debug, info, warn, error
  double log_rate = 100;                  // lines about single tunnels/contacts per second (burst 2x; 0 = all);
                                          // the rest are counted in a log_summary line every 10 s
  std::string state_dir;                  // contacts persist in <state_dir>/contacts.sqlite3; empty = memory only

  // Linked phones (docs/linking.md).
  size_t max_contacts = 100000;           // registered contact IDs kept in memory -> 503 for new ones
  double contact_ttl = 30 * 86400.0;      // a contact without a listener stays registered this long
  double unused_contact_ttl = 7 * 86400.0;  // ... if no desktop ever contacted it (capped by contact_ttl)
  double listen_idle_timeout = 90;        // a listener that sends nothing (not even a ping) -> close 1008
  std::string wake_webhook;               // http(s)://host:port/path; empty = listen connections only
  std::string wake_webhook_ca_file;       // https: PEM CAs to verify the webhook with (default: system store)
  double wake_webhook_timeout = 5;        // the whole POST, connect to response

  // SIGHUP: if set, fills `out` with the configuration read again (command line and --config file)
  // and returns true, or sets `error` and returns false. The relay then applies the new limits
  // (Relay::apply_reload, docs/relay.md "Signals"); without it SIGHUP re-reads only the TLS files.
  std::function<bool(Config& out, std::string& error)> reload;
};

// The 12 base64url characters every contact ID of the node with this routing ID (6 hex digits)
// starts with ("hg" + upper-case hex + "."); empty if the routing ID is not 6 hex digits.
std::string contact_prefix(const std::string& routing_id_hex);

// `hybridgate-relay backup`: copies <state_dir>'s contact store into one new file `to` with
// SQLite's online backup API — a consistent snapshot, taken while a relay runs on the directory
// (it keeps serving and committing). The copy records the routing ID and is marked cleanly
// closed, so it is complete on its own. Returns a sentence naming what was copied.
Result<std::string> backup_state(const std::string& state_dir, const std::string& to);
// `hybridgate-relay restore`: puts a backup file back as <state_dir>/contacts.sqlite3 and writes
// <state_dir>/routing-id from it. Refuses a directory that holds a store or a routing ID already,
// or one a relay is running on, and a file that is not a backup or fails SQLite's quick_check.
Result<std::string> restore_state(const std::string& from, const std::string& state_dir);

class Relay {
 public:
  explicit Relay(Config cfg);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Validates the config, loads TLS material, binds the listeners, writes the port files.
  Status start();
  uint16_t port() const;
  uint16_t admin_port() const;
  std::string routing_id_hex() const;

  // Runs until a SIGTERM/SIGINT drain finishes (SIGHUP reloads the TLS cert and key).
  // Returns the process exit status.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg::relay
