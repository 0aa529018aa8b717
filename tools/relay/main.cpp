// SPDX-License-Identifier: Apache-2.0
// hybridgate-relay: the caBLE v2 tunnel server for operators. See docs/relay.md.
// CLI11 2.1 + libstdc++ 12 trip -Wnull-dereference (a flow warning that ignores system headers).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "proto/domains.hpp"
#include "tunnel/server/relay.hpp"

namespace {

// `hybridgate-relay domains`: the host names browsers dial for tunnel domain IDs (docs/relay.md,
// "Tunnel domains"). A phone puts the ID of its tunnel server in its BLE advert (2 bytes); the
// desktop's browser turns the ID into a host name (proto/domains.cpp, Chromium's derivation) and
// opens wss://<name>/cable/connect/... there. IDs 0 and 1 are the assigned cable.ua5v.com and
// cable.auth.com, 2..255 are unassigned, 256..65535 are hashed to cable.<label>.{com,org,net,info}.
struct DomainsOptions {
  std::vector<int> ids;
  int from = -1;
  int count = 16;
  std::string host;
};

int print_domain(uint16_t id) {
  auto n = hg::tunnel_domain::name(id);
  if (!n) {
    std::fprintf(stderr, "hybridgate-relay: domain ID %u is unassigned (valid: 0, 1, 256-65535)\n", unsigned(id));
    return 1;
  }
  std::printf("%u %s\n", unsigned(id), n->c_str());
  return 0;
}

int run_domains(const DomainsOptions& o) {
  int rc = 0;
  if (!o.host.empty()) {  // which IDs give this host name: every ID is tried (65,282 SHA-256s)
    std::string want = o.host;
    for (auto& ch : want) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    while (!want.empty() && want.back() == '.') want.pop_back();  // a fully qualified "name."
    bool found = false;
    for (uint32_t id = 0; id <= 0xffff; ++id) {
      if (!hg::tunnel_domain::valid_id(uint16_t(id))) continue;
      auto n = hg::tunnel_domain::name(uint16_t(id));
      if (n && *n == want) found = print_domain(uint16_t(id)) == 0;
    }
    if (!found) {
      std::fprintf(stderr,
                   "hybridgate-relay: no tunnel domain ID maps to %s: browsers reach a relay only under cable.ua5v.com, "
                   "cable.auth.com or a hashed name (list some with --from 256)\n",
                   o.host.c_str());
      return 1;
    }
  }
  for (int id : o.ids) rc |= print_domain(uint16_t(id));
  if (o.from >= 0) {
    for (int i = 0, id = o.from; i < o.count && id <= 0xffff; ++id) {
      if (!hg::tunnel_domain::valid_id(uint16_t(id))) continue;
      print_domain(uint16_t(id));
      ++i;
    }
  }
  if (o.host.empty() && o.ids.empty() && o.from < 0)
    for (uint16_t id = 0; id < hg::tunnel_domain::kNumAssigned; ++id) print_domain(id);
  return rc;
}

// A config file error: name the file, the line and the key (CLI11 says only "INI was not able to
// parse KEY"). The line is found by looking for the key at the start of a line; the file itself
// is parsed by CLI11 alone.
int config_error(CLI::App& app, const CLI::ConfigError& e, int argc, char** argv) {
  std::string file;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) file = argv[i + 1];
    else if (a.rfind("--config=", 0) == 0) file = a.substr(9);
  }
  const std::string what = e.what();
  const std::string marker = "not able to parse ";
  const auto at = what.find(marker);
  if (file.empty() || at == std::string::npos) return app.exit(e);
  const std::string key = what.substr(at + marker.size());
  std::ifstream in(file);
  std::string line;
  int n = 0, found = 0;
  while (found == 0 && std::getline(in, line)) {
    ++n;
    const auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line.compare(b, key.size(), key) != 0) continue;
    const auto after = line.find_first_not_of(" \t", b + key.size());
    if (after != std::string::npos && (line[after] == '=' || line[after] == ':')) found = n;
  }
  if (found)
    std::fprintf(stderr, "hybridgate-relay: %s:%d: unknown key '%s' (not an option of hybridgate-relay; see --help)\n",
                 file.c_str(), found, key.c_str());
  else
    std::fprintf(stderr, "hybridgate-relay: %s: unknown key '%s' (not an option of hybridgate-relay; see --help)\n",
                 file.c_str(), key.c_str());
  return 2;
}

}  // namespace

// The whole command line; main() parses it once, and SIGHUP (Config::reload) again, into a fresh
// Config, which re-reads the --config file.
struct Cli {
  hg::relay::Config c;
  DomainsOptions dom;
  bool print_prefix = false;
  CLI::App app{
      "hybridgate-relay: FIDO hybrid (caBLE v2) tunnel server.\n"
      "Serves GET /cable/new/<tunnel ID> (phone) and /cable/connect/<routing ID>/<tunnel ID> (desktop)\n"
      "and relays binary WebSocket messages between the two; linked phones listen on /cable/listen and\n"
      "desktops reach them through /cable/contact/<contact ID>. Durations are in seconds.\n"
      "SIGHUP re-reads the TLS certificate and key and the limits (command line and --config file); SIGTERM\n"
      "drains. See docs/relay.md."};
  CLI::App* domains = nullptr;
  CLI::App* backup = nullptr;
  CLI::App* restore = nullptr;
  std::string backup_to, restore_from, store_dir;
  Cli() {
    app.set_config("--config", "", "Read options from a TOML/INI file (keys are the long option names)");
    app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt key is an error, not ignored
    app.set_version_flag("--version", std::string("hybridgate-relay ") + HG_VERSION);
    app.option_defaults()->always_capture_default();

    app.add_option("--listen", c.listen, "Address:port of the tunnel listener ([v6]:port for IPv6; port 0 = any free port)");
    app.add_option("--admin-listen", c.admin_listen, "Address:port of the admin listener (/healthz, /readyz, /metrics); empty = off");
    app.add_option("--port-file", c.port_file, "Write the tunnel listener's port to this file once listening");
    app.add_option("--admin-port-file", c.admin_port_file, "Write the admin listener's port to this file once listening");
    app.add_option("--routing-id", c.routing_id, "This node's routing ID, 6 hex digits (3 bytes); empty = random at start");
    app.add_option("--tls-cert", c.tls_cert, "PEM certificate chain; with --tls-key the listener speaks TLS (wss)")->check(CLI::ExistingFile);
    app.add_option("--tls-key", c.tls_key, "PEM private key for --tls-cert")->check(CLI::ExistingFile);
    app.add_option("--trusted-proxy", c.trusted_proxies,
                   "Proxy address or prefix (a.b.c.d, a.b.c.0/24, v6/n) whose X-Forwarded-For entries are believed: the client is "
                   "the rightmost entry that is not a trusted proxy; repeatable");
    app.add_option("--client-prefix-v4", c.client_prefix_v4, "Rate limits and caps count IPv4 clients per prefix of this length")
        ->check(CLI::Range(0, 32));
    app.add_option("--client-prefix-v6", c.client_prefix_v6, "Rate limits and caps count IPv6 clients per prefix of this length")
        ->check(CLI::Range(0, 128));
    app.add_option("--network-prefix-v4", c.network_prefix_v4,
                   "The per-network caps count IPv4 clients per prefix of this length (at most --client-prefix-v4)")
        ->check(CLI::Range(0, 32));
    app.add_option("--network-prefix-v6", c.network_prefix_v6,
                   "The per-network caps count IPv6 clients per prefix of this length (at most --client-prefix-v6)")
        ->check(CLI::Range(0, 128));
    app.add_option("--max-message-size", c.max_message_size, "Largest WebSocket message in bytes; larger -> close 1009")->check(CLI::PositiveNumber);
    app.add_option("--max-tunnel-messages", c.max_tunnel_messages, "Messages per tunnel, both directions (0 = unlimited); over -> close 1008");
    app.add_option("--max-tunnel-bytes", c.max_tunnel_bytes, "Payload bytes per tunnel, both directions (0 = unlimited); over -> close 1008");
    app.add_option("--max-pending-messages", c.max_pending_messages, "Messages buffered before the desktop joins; over -> close 1008");
    app.add_option("--max-pending-bytes", c.max_pending_bytes, "Bytes buffered before the desktop joins; over -> close 1008");
    app.add_option("--max-unpaired-message-size", c.max_unpaired_message_size,
                   "Largest message a side may send before its peer joined (the handshake is 81 bytes); larger -> close 1009")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-tunnel-buffer", c.max_tunnel_buffer,
                   "Message buffer bytes one tunnel may hold, partial messages included (0 = 2 x --max-message-size + --max-pending-bytes); over -> close 1008");
    app.add_option("--max-buffered-bytes", c.max_buffered_bytes,
                   "Message buffer bytes the whole relay may hold, partial messages included; when full, the tunnels of the "
                   "client holding the most are closed first (1008), else the tunnel that needs more -> close 1008")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-client-buffer", c.max_client_buffer,
                   "Share of --max-buffered-bytes one client prefix may hold, connections before their request included "
                   "(0 = 1/8 of it, at least --max-tunnel-buffer); over -> close 1008 / connection dropped");
    app.add_option("--wait-timeout", c.wait_timeout, "Time a phone waits for its desktop; over -> close 1008")->check(CLI::PositiveNumber);
    app.add_option("--tunnel-lifetime", c.tunnel_lifetime, "Longest life of a tunnel; over -> close 1008")->check(CLI::PositiveNumber);
    app.add_option("--idle-timeout", c.idle_timeout, "Longest time without a message either way; over -> close 1008")->check(CLI::PositiveNumber);
    app.add_option("--upgrade-timeout", c.upgrade_timeout, "Deadline from TCP accept to the 101 (TLS handshake + HTTP request)")->check(CLI::PositiveNumber);
    app.add_option("--request-timeout", c.request_timeout,
                   "Deadline from TCP accept to the complete HTTP request header (TLS handshake included); over -> connection closed")
        ->check(CLI::PositiveNumber);
    app.add_option("--close-timeout", c.close_timeout, "Time to flush and finish the WebSocket close handshake before dropping the connection")->check(CLI::PositiveNumber);
    app.add_option("--drain-timeout", c.drain_timeout, "SIGTERM: time tunnels get to finish before they are closed with 1001")->check(CLI::NonNegativeNumber);
    app.add_option("--max-header-size", c.max_header_size, "Largest HTTP request header in bytes; larger -> 431")->check(CLI::PositiveNumber);
    app.add_option("--max-waiting-tunnels", c.max_waiting_tunnels, "Phones waiting for a desktop at once; more -> 503");
    app.add_option("--max-connections", c.max_connections, "Open client connections; more -> 503 (0 = the fd limit minus 64)");
    app.add_option("--rate-new", c.rate_new, "/cable/new upgrades per second per client IP (0 = no limit); over -> 429")->check(CLI::NonNegativeNumber);
    app.add_option("--rate-new-burst", c.rate_new_burst, "Burst allowance for --rate-new")->check(CLI::PositiveNumber);
    app.add_option("--rate-connect", c.rate_connect, "/cable/connect upgrades per second per client IP (0 = no limit); over -> 429")->check(CLI::NonNegativeNumber);
    app.add_option("--rate-connect-burst", c.rate_connect_burst, "Burst allowance for --rate-connect")->check(CLI::PositiveNumber);
    app.add_option("--rate-table-size", c.rate_table_size, "Client IPs the rate limiter tracks at most")->check(CLI::PositiveNumber);
    app.add_option("--max-connections-per-client", c.max_connections_per_client,
                   "Open connections per client prefix (counted from its HTTP request on; more -> 503), and connections "
                   "one peer prefix may have before their request (more -> dropped)")->check(CLI::PositiveNumber);
    app.add_option("--max-waiting-per-client", c.max_waiting_per_client,
                   "Tunnels waiting for their second side per client prefix (/cable/new, /cable/contact); more -> 503")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-contacts-per-client", c.max_contacts_per_client,
                   "Contacts registered from one client prefix (until they expire); more -> 503")->check(CLI::PositiveNumber);
    app.add_option("--max-connections-per-network", c.max_connections_per_network,
                   "Like --max-connections-per-client, for all clients of one network prefix (0 = no cap); more -> 503 / dropped");
    app.add_option("--max-waiting-per-network", c.max_waiting_per_network,
                   "Like --max-waiting-per-client, for all clients of one network prefix (0 = no cap); more -> 503");
    app.add_option("--max-contacts-per-network", c.max_contacts_per_network,
                   "Like --max-contacts-per-client, for all clients of one network prefix (0 = no cap); more -> 503");
    app.add_option("--rate-reattach", c.rate_reattach, "/cable/listen/<contact ID> re-attaches per second per contact (0 = no limit); over -> 429")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--rate-reattach-burst", c.rate_reattach_burst, "Burst allowance for --rate-reattach")->check(CLI::PositiveNumber);
    app.add_option("--max-webhook-in-flight", c.max_webhook_in_flight,
                   "Wake-up webhook POSTs waiting for an answer at once; more -> 503")->check(CLI::PositiveNumber);
    app.add_option("--unused-contact-ttl", c.unused_contact_ttl,
                   "Like --contact-ttl, for contacts no desktop ever contacted (default 7 days)")->check(CLI::PositiveNumber);
    app.add_option("--max-contacts", c.max_contacts, "Contact IDs of linked phones kept in memory; more new registrations -> 503")->check(CLI::PositiveNumber);
    app.add_option("--contact-ttl", c.contact_ttl, "Time a contact stays registered after its phone's listen connection went away (default 30 days)")->check(CLI::PositiveNumber);
    app.add_option("--listen-idle-timeout", c.listen_idle_timeout, "Close a phone's listen connection after this long without a ping or message (1008)")->check(CLI::PositiveNumber);
    app.add_option("--wake-webhook", c.wake_webhook, "http(s)://host[:port]/path: POST wake-ups for contacts without a listen connection here (FCM/UnifiedPush gateway)");
    app.add_option("--wake-webhook-ca-file", c.wake_webhook_ca_file, "https webhook: verify its certificate against these PEM CAs instead of the system store");
    app.add_option("--wake-webhook-timeout", c.wake_webhook_timeout, "Deadline of one webhook POST")->check(CLI::PositiveNumber);
    app.add_flag("--print-contact-prefix", print_prefix, "Print the 12-character base64url prefix of this node's contact IDs (needs --routing-id) and exit");
    if (const char* sd = std::getenv("STATE_DIRECTORY")) {  // systemd StateDirectory= (the first, if several)
      c.state_dir = sd;
      c.state_dir = c.state_dir.substr(0, c.state_dir.find(':'));
    }
    app.add_option("--state-dir", c.state_dir,
                   "Directory of the contact store (contacts.sqlite3); default $STATE_DIRECTORY (systemd), else contacts live in memory only");
    app.add_option("--log-rate", c.log_rate,
                   "Lines about single tunnels and contacts (tunnel_finished, listener_attached, ...) per second, burst twice "
                   "that (0 = no limit); the rest are counted in a log_summary line every 10 s")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--log-level", c.log_level, "debug, info, warn or error")->check(CLI::IsMember({"debug", "info", "warn", "error"}));

    domains = app.add_subcommand(
        "domains",
        "Print the host names browsers dial for tunnel domain IDs, one \"ID NAME\" per line: a phone advertises the ID, "
        "the desktop's browser derives the name (0 = cable.ua5v.com, 1 = cable.auth.com, 256-65535 = "
        "cable.<hash>.{com,org,net,info}). Without options: the assigned IDs 0 and 1");
    domains->add_option("--id", dom.ids, "Domain ID(s) to print the host name of (repeatable)")->check(CLI::Range(0, 65535));
    domains->add_option("--from", dom.from, "List --count hashed IDs from this one on (candidates to register)")
        ->check(CLI::Range(256, 65535));
    domains->add_option("--count", dom.count, "How many IDs --from lists")->check(CLI::Range(1, 65536));
    domains->add_option("--host", dom.host, "Find the domain ID(s) of this host name (tries every ID)");

    backup = app.add_subcommand(
        "backup",
        "Copy the contact store and routing ID of a state directory into one file (SQLite's online backup: works "
        "while the relay runs); restore it with `restore`");
    backup->add_option("--state-dir", store_dir, "The relay's state directory")->required();
    backup->add_option("--to", backup_to, "The backup file to create (must not exist)")->required();
    restore = app.add_subcommand(
        "restore",
        "Put a backup file back into an empty state directory (contacts.sqlite3 and routing-id); the relay must not "
        "run on it");
    restore->add_option("--from", restore_from, "A file made by `backup`")->required()->check(CLI::ExistingFile);
    restore->add_option("--state-dir", store_dir, "The state directory to restore into (created if missing)")->required();
  }
};

int main(int argc, char** argv) {
  Cli cli;
  auto& app = cli.app;
  auto& c = cli.c;
  auto& dom = cli.dom;
  auto* domains = cli.domains;
  const bool& print_prefix = cli.print_prefix;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ConfigError& e) {
    return config_error(app, e, argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (domains->parsed()) return run_domains(dom);
  if (cli.backup->parsed() || cli.restore->parsed()) {
    auto r = cli.backup->parsed() ? hg::relay::backup_state(cli.store_dir, cli.backup_to)
                                  : hg::relay::restore_state(cli.restore_from, cli.store_dir);
    if (!r) {
      std::fprintf(stderr, "hybridgate-relay: %s\n", r.error().detail.c_str());
      return 1;
    }
    std::printf("%s\n", r->c_str());
    return 0;
  }
  if (print_prefix) {
    auto p = hg::relay::contact_prefix(c.routing_id);
    if (p.empty()) {
      std::fprintf(stderr, "hybridgate-relay: --print-contact-prefix needs --routing-id (6 hex digits)\n");
      return 2;
    }
    std::printf("%s\n", p.c_str());
    return 0;
  }

  // Large message buffers (up to --max-message-size) come from mmap and go back to the system when
  // freed: a fixed threshold (glibc raises its default one after the first such free), so RSS follows
  // the memory budget down as well as up.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // Setting the mmap threshold also fixes glibc's trim threshold at 128 KiB: every free that
  // leaves that much at the top of the heap gives it back (brk), and the next connections fault
  // it in again — measured as malloc/free and page-fault time per pairing (docs/relay.md,
  // "Figures"). Memory goes back to the system through the relay's own malloc_trim after
  // connections went away (Relay::trim_memory), so automatic trimming waits for 32 MiB.
  mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
  c.reload = [argc, argv](hg::relay::Config& out, std::string& error) {
    Cli again;
    try {
      again.app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      error = e.what();
      return false;
    }
    out = again.c;
    return true;
  };
  hg::relay::Relay relay(c);
  auto st = relay.start();
  if (!st) {
    // The relay's details are whole sentences naming what failed (a file, an address, an option);
    // the code's generic sentence ("A file could not be read or written.") would only mislead.
    const auto& err = st.error();
    std::fprintf(stderr, "hybridgate-relay: %s [%s]\n", err.detail.empty() ? err.to_string().c_str() : err.detail.c_str(),
                 std::string(err.name()).c_str());
    return 1;
  }
  return relay.run();
}
