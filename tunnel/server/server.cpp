// SPDX-License-Identifier: Apache-2.0
// Relay: listeners, signals (SIGHUP reload, SIGTERM drain), TLS context, port files.
// Asio 1.74's scheduler trips g++ 12's -Wnull-dereference (a flow warning that ignores the
// system-header status of Boost once inlined). Our own code is checked by the other TUs.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <systemd/sd-daemon.h>

#include "proto/bytes.hpp"
#include "proto/crypto.hpp"
#include "web/tls.hpp"
#include "tunnel/server/core.hpp"
#include "tunnel/server/relay.hpp"
#include "tunnel/server/sessions.hpp"

namespace hg::relay {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

Result<tcp::endpoint> parse_endpoint(const std::string& s) {
  std::string host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return make_error(Errc::invalid_argument, "bad address '" + s + "' (want [v6]:port)");
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return make_error(Errc::invalid_argument, "bad address '" + s + "' (want host:port)");
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) return make_error(Errc::invalid_argument, "bad IP address '" + host + "' (a literal IP is required)");
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end || p < 0 || p > 65535) return make_error(Errc::invalid_argument, "bad port '" + port + "'");
  return tcp::endpoint(addr, static_cast<unsigned short>(p));
}

bool write_port_file(const std::string& path, uint16_t port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return false;
    f << port << "\n";
    if (!f) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// The notAfter of the context's certificate (the chain's first), Unix seconds; 0 if unknown.
double cert_not_after(net::ssl::context& ctx) {
  X509* x = SSL_CTX_get0_certificate(ctx.native_handle());
  if (!x) return 0;
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) return 0;
  return static_cast<double>(timegm(&tm));
}

Result<std::shared_ptr<net::ssl::context>> load_tls(const Config& cfg) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                   net::ssl::context::single_dh_use);
  boost::system::error_code ec;
  // Say which file and why: unreadable (the system's reason) or not usable (OpenSSL's reason).
  for (const std::string* f : {&cfg.tls_cert, &cfg.tls_key}) {
    std::FILE* fp = std::fopen(f->c_str(), "r");
    if (!fp)
      return make_error(Errc::io, std::string("cannot read the TLS ") + (f == &cfg.tls_cert ? "certificate " : "key ") + *f +
                                      ": " + std::strerror(errno));
    std::fclose(fp);
  }
  ctx->use_certificate_chain_file(cfg.tls_cert, ec);
  if (ec)
    return make_error(Errc::io, "the TLS certificate " + cfg.tls_cert +
                                    " is not a PEM certificate chain OpenSSL can use (OpenSSL: " + ec.message() + ")");
  ctx->use_private_key_file(cfg.tls_key, net::ssl::context::pem, ec);
  if (ec)
    return make_error(Errc::io, "the TLS key " + cfg.tls_key + " is not a PEM private key OpenSSL can use (OpenSSL: " +
                                    ec.message() + ")");
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return make_error(Errc::io, "the TLS key " + cfg.tls_key + " does not match the certificate " + cfg.tls_cert);
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);  // smaller idle TLS connections
  return ctx;
}

}  // namespace

struct Relay::Impl {
  explicit Impl(Config c) : ioc(std::make_unique<net::io_context>(1)), cfg(std::move(c)) {}
  ~Impl() {
    acceptor.reset();
    admin_acceptor.reset();
    signals.reset();
    timer.reset();
    drain_timer.reset();  // every I/O object must go before the io_context (ASan: use after free)
    watchdog.reset();
    trim_timer.reset();
    lag_timer.reset();
    summary_timer.reset();
    if (core && core->writer) core->writer->stop();  // no result may be posted to a destroyed io_context
    if (core) {
      core->contact_sweep_timer.reset();
      core->tunnels.clear();  // their timers too (tunnels left only if run() ended early)
    }
    ioc.reset();  // destroys pending handlers (and with them sessions) while core still exists
    core.reset();
  }

  std::unique_ptr<net::io_context> ioc;
  Config cfg;
  std::unique_ptr<Core> core;
  std::unique_ptr<tcp::acceptor> acceptor, admin_acceptor;
  std::unique_ptr<net::signal_set> signals;
  std::unique_ptr<net::steady_timer> timer;        // accept back-off and drain polling
  std::unique_ptr<net::steady_timer> drain_timer;  // drain polling
  std::unique_ptr<net::steady_timer> watchdog;     // sd_notify WATCHDOG=1 (WatchdogSec=)
  std::unique_ptr<net::steady_timer> trim_timer;   // returns freed heap memory (trim_memory)
  std::unique_ptr<net::steady_timer> lag_timer;    // measures the event loop's lag (measure_lag)
  std::unique_ptr<net::steady_timer> summary_timer;  // log_summary every 10 s
  std::map<std::string, uint64_t> finished_seen;   // tunnels_finished at the last log_summary
  Clock::duration watchdog_every{};
  std::shared_ptr<net::ssl::context> tls;
  uint16_t port = 0, admin_port = 0;
  bool stopping = false;
  bool socket_activated = false;  // the tunnel listener came from systemd (sd_listen_fds)

  Status start();
  void accept();
  void on_accept(boost::system::error_code ec, tcp::socket s);
  void admin_accept();
  void wait_signal();
  void reload_tls();
  void reload_limits();
  void begin_drain();
  void poll_drain();
  void stop();
  void pet_watchdog();
  void trim_memory();
  void measure_lag();
  void log_summary();
};

Status Relay::Impl::start() {
  core = std::make_unique<Core>(*ioc, cfg);
  Level lvl;
  if (!parse_level(cfg.log_level, lvl)) return make_error(Errc::invalid_argument, "bad --log-level " + cfg.log_level);
  core->log.set_level(lvl);
  if (!cfg.routing_id.empty() && !hex_decode_fixed<3>(cfg.routing_id))
    return make_error(Errc::invalid_argument, "--routing-id must be 6 hex digits");
  bool rid_kept = false;  // <state-dir>/routing-id existed: this relay has had an identity (and contacts)
  if (!cfg.state_dir.empty()) {
    // The routing ID is generated once and kept with the contacts: every contact ID carries it.
    HG_TRY(auto kept, keep_routing_id(cfg.state_dir, cfg.routing_id, rid_kept));
    core->rid = *hex_decode_fixed<3>(kept);
  } else if (cfg.routing_id.empty()) {
    core->rid = crypto::random_array<3>();
  } else {
    core->rid = *hex_decode_fixed<3>(cfg.routing_id);
  }
  core->rid_hex = hex_encode(core->rid, true);
  core->contact_prefix_bytes = "hg" + core->rid_hex + ".";
  if (cfg.max_contacts == 0) return make_error(Errc::invalid_argument, "--max-contacts must be > 0");
  if (!(cfg.contact_ttl > 0) || !(cfg.listen_idle_timeout > 0) || !(cfg.wake_webhook_timeout > 0))
    return make_error(Errc::invalid_argument, "--contact-ttl, --listen-idle-timeout and --wake-webhook-timeout must be > 0");
  if (!cfg.wake_webhook.empty()) {
    auto url = web::parse_url(cfg.wake_webhook, web::UrlScheme::http);
    if (!url)
      return make_error(Errc::invalid_argument,
                        "--wake-webhook must be an http(s)://host[:port]/path URL (" + url.error().detail + ")");
    if (url->tls) {
      auto t = web::make_client_tls(cfg.wake_webhook_ca_file, web::CaFile::replaces_system_store,
                                       "--wake-webhook-ca-file");
      if (!t) return t.error();
      core->webhook_tls = *t;
    }
    core->webhook = std::move(url).value();
  }
  if (!cfg.wake_webhook_ca_file.empty() && !core->webhook_tls)
    return make_error(Errc::invalid_argument, "--wake-webhook-ca-file goes with an https:// --wake-webhook");
  for (auto& p : cfg.trusted_proxies) {
    auto pre = parse_prefix(p);
    if (!pre) return make_error(Errc::invalid_argument, "--trusted-proxy '" + p + "' is not an IP address or prefix");
    core->trusted.push_back(*pre);
  }
  if (cfg.client_prefix_v4 < 0 || cfg.client_prefix_v4 > 32 || cfg.client_prefix_v6 < 0 || cfg.client_prefix_v6 > 128)
    return make_error(Errc::invalid_argument, "--client-prefix-v4 must be 0..32 and --client-prefix-v6 0..128");
  if (cfg.network_prefix_v4 < 0 || cfg.network_prefix_v4 > cfg.client_prefix_v4 || cfg.network_prefix_v6 < 0 ||
      cfg.network_prefix_v6 > cfg.client_prefix_v6)
    return make_error(Errc::invalid_argument,
                      "--network-prefix-v4 must be 0..--client-prefix-v4 and --network-prefix-v6 0..--client-prefix-v6 "
                      "(a network holds whole clients)");
  if (!cfg.state_dir.empty()) {
    const std::string db = cfg.state_dir + "/contacts.sqlite3";
    if (rid_kept && ::access(db.c_str(), F_OK) != 0)
      return make_error(Errc::io, "the state directory " + cfg.state_dir + " keeps this relay's routing ID but " + db +
                                      " is missing: starting empty would make every linked phone unknown. Restore it "
                                      "from a backup (with its -wal file), or remove the state directory to start a new "
                                      "identity (every linked phone must link again)");
    HG_CHECK(core->store.open(cfg.state_dir, (uint32_t(core->rid[0]) << 16) | (uint32_t(core->rid[1]) << 8) | core->rid[2]));
    HG_CHECK(core->load_contacts());
    // From here on the store is the writer thread's; its results come back through the loop.
    core->writer = std::make_unique<StoreWriter>(core->store, [ioc = ioc.get()](std::function<void()> f) {
      net::post(*ioc, std::move(f));
    });
  } else {
    core->log.log(Level::warn, "contacts_in_memory",
                  {{"note", "no --state-dir: the routing ID and linked phones' contacts are lost at restart"}});
  }
  if (!(cfg.unused_contact_ttl > 0)) return make_error(Errc::invalid_argument, "--unused-contact-ttl must be > 0");
  if (cfg.max_buffered_bytes == 0 || cfg.max_unpaired_message_size == 0)
    return make_error(Errc::invalid_argument, "--max-buffered-bytes and --max-unpaired-message-size must be > 0");
  if (cfg.max_message_size == 0) return make_error(Errc::invalid_argument, "--max-message-size must be > 0");
  if (!(cfg.request_timeout > 0)) return make_error(Errc::invalid_argument, "--request-timeout must be > 0");
  if (cfg.tls_cert.empty() != cfg.tls_key.empty())
    return make_error(Errc::invalid_argument, "--tls-cert and --tls-key go together");
  if (!cfg.tls_cert.empty()) {
    auto t = load_tls(cfg);
    if (!t) return t.error();
    tls = *t;
    core->m.tls_not_after = cert_not_after(*tls);
  }
  boost::system::error_code ec;
  acceptor = std::make_unique<tcp::acceptor>(*ioc);
  // Socket activation (systemd's .socket unit, deploy/hybridgate-relay.socket): the listening
  // socket is passed as fd 3 (LISTEN_FDS/LISTEN_PID, sd_listen_fds) and --listen is not used.
  // systemd keeps the socket open across restarts, so connections wait in its backlog instead of
  // being refused while no relay runs.
  const int nfds = sd_listen_fds(1);
  if (nfds < 0) return make_error(Errc::io, std::string("socket activation: ") + std::strerror(-nfds));
  if (nfds > 1)
    return make_error(Errc::invalid_argument, "socket activation passed " + std::to_string(nfds) +
                                                  " sockets; the relay takes one (the tunnel listener)");
  if (nfds == 1) {
    const int fd = SD_LISTEN_FDS_START;
    const bool v4 = sd_is_socket_inet(fd, AF_INET, SOCK_STREAM, 1, 0) > 0;
    const bool v6 = !v4 && sd_is_socket_inet(fd, AF_INET6, SOCK_STREAM, 1, 0) > 0;
    if (!v4 && !v6)
      return make_error(Errc::invalid_argument,
                        "socket activation: fd 3 is not a listening TCP socket (ListenStream= in the .socket unit)");
    acceptor->assign(v4 ? tcp::v4() : tcp::v6(), fd, ec);
    if (ec) return make_error(Errc::io, "socket activation: cannot use fd 3: " + ec.message());
    socket_activated = true;
  } else {
    HG_TRY(auto lep, parse_endpoint(cfg.listen));
    acceptor->open(lep.protocol(), ec);
    if (!ec) acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(lep, ec);
    if (!ec) acceptor->listen(4096, ec);
    if (ec == net::error::address_in_use)
      return make_error(Errc::io, "cannot listen on " + cfg.listen + ": the address is in use (another process listens there)");
    if (ec) return make_error(Errc::io, "cannot listen on " + cfg.listen + " (bind failed): " + ec.message());
  }
  const auto ep = acceptor->local_endpoint(ec);
  if (ec) return make_error(Errc::io, "cannot read the listening socket's address: " + ec.message());
  port = ep.port();
  if (!cfg.admin_listen.empty()) {
    HG_TRY(auto aep, parse_endpoint(cfg.admin_listen));
    admin_acceptor = std::make_unique<tcp::acceptor>(*ioc);
    admin_acceptor->open(aep.protocol(), ec);
    if (!ec) admin_acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) admin_acceptor->bind(aep, ec);
    if (!ec) admin_acceptor->listen(64, ec);
    if (ec == net::error::address_in_use)
      return make_error(Errc::io, "cannot listen on " + cfg.admin_listen + ": the address is in use (another process listens there)");
    if (ec) return make_error(Errc::io, "cannot listen on " + cfg.admin_listen + " (bind failed): " + ec.message());
    admin_port = admin_acceptor->local_endpoint().port();
  }
  signals = std::make_unique<net::signal_set>(*ioc, SIGTERM, SIGINT, SIGHUP);
  timer = std::make_unique<net::steady_timer>(*ioc);
  drain_timer = std::make_unique<net::steady_timer>(*ioc);
  core->log.log(Level::info, "listening",
                {{"address", ep.address().to_string()},
                 {"port", port},
                 {"tls", static_cast<bool>(tls)},
                 {"socket_activated", socket_activated},
                 {"admin_port", admin_port},
                 {"routing_id", core->rid_hex},
                 {"contact_prefix", base64url_encode(as_bytes(core->contact_prefix_bytes))},
                 {"wake_webhook", !cfg.wake_webhook.empty()},
                 {"state_dir", cfg.state_dir},
                 {"max_connections", core->max_connections},
                 {"pid", static_cast<int>(::getpid())}});
  if (!cfg.admin_port_file.empty() && admin_acceptor && !write_port_file(cfg.admin_port_file, admin_port))
    return make_error(Errc::io, "cannot write " + cfg.admin_port_file);
  if (!cfg.port_file.empty() && !write_port_file(cfg.port_file, port))
    return make_error(Errc::io, "cannot write " + cfg.port_file);
  accept();
  if (admin_acceptor) admin_accept();
  core->start_contact_sweeper();
  trim_timer = std::make_unique<net::steady_timer>(*ioc);
  trim_memory();
  lag_timer = std::make_unique<net::steady_timer>(*ioc);
  measure_lag();
  summary_timer = std::make_unique<net::steady_timer>(*ioc);
  log_summary();
  wait_signal();
  // systemd Type=notify: ready once listening; a watchdog if the unit has WatchdogSec=.
  sd_notifyf(0, "READY=1\nSTATUS=listening on port %u\nMAINPID=%d", static_cast<unsigned>(port), static_cast<int>(::getpid()));
  uint64_t wd_usec = 0;
  if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
    watchdog = std::make_unique<net::steady_timer>(*ioc);
    watchdog_every = std::chrono::microseconds(wd_usec / 2);
    pet_watchdog();
  }
  return ok_status();
}

void Relay::Impl::accept() {
  acceptor->async_accept(*ioc, [this](boost::system::error_code ec, tcp::socket s) { on_accept(ec, std::move(s)); });
}

void Relay::Impl::on_accept(boost::system::error_code ec, tcp::socket s) {
  if (stopping) return;
  // A connection accepted just before the listener was closed (a socket-activated drain) is
  // still served below — answered, never dropped unread; only no further accept is started.
  const bool listening = acceptor && acceptor->is_open();
  if (ec) {
    if (ec == net::error::operation_aborted || !listening) return;
    // Out of descriptors (or similar): back off instead of spinning on a readable listener.
    core->limit_hit("accept_failed", {{"error", ec.message()}});
    timer->expires_after(std::chrono::milliseconds(50));
    timer->async_wait([this](boost::system::error_code e) {
      if (!e && !stopping && acceptor && acceptor->is_open()) accept();
    });
    return;
  }
  boost::system::error_code oec;
  s.set_option(tcp::no_delay(true), oec);
  ++core->m.connections_total;
  ++core->m.connections_open;
  const size_t open = static_cast<size_t>(core->m.connections_open);
  core->conn_peak = std::max(core->conn_peak, open);
  if (open > core->max_connections + 64) {
    // Far over capacity: do not even read the request.
    core->limit_hit("max_connections", {{"open", open}});
    ++core->m.rejections["max_connections_hard"];
    --core->m.connections_open;
    s.close(oec);
  } else if (tls) {
    start_tls_session(*core, std::move(s), tls, open > core->max_connections);
  } else {
    start_plain_session(*core, std::move(s), open > core->max_connections);
  }
  if (listening) accept();
}

void Relay::Impl::admin_accept() {
  admin_acceptor->async_accept(*ioc, [this](boost::system::error_code ec, tcp::socket s) {
    if (stopping || ec == net::error::operation_aborted) return;
    if (!ec) start_admin_session(*core, std::move(s));
    admin_accept();
  });
}

void Relay::Impl::wait_signal() {
  signals->async_wait([this](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload_tls();
      reload_limits();
    }
    else if (!core->draining) begin_drain();
    else {
      core->log.log(Level::warn, "drain_forced", {{"signal", sig}});
      core->drain_all();
    }
    wait_signal();
  });
}

void Relay::Impl::reload_tls() {
  if (!tls) {
    core->log.log(Level::info, "sighup", {{"tls", false}});
    return;
  }
  auto t = load_tls(cfg);
  if (!t) {
    ++core->m.tls_reloads_failed;
    core->log.log(Level::error, "tls_reload_failed", {{"error", t.error().to_string()}});
    return;
  }
  tls = *t;  // new connections use the new context; existing sessions keep theirs
  core->m.tls_not_after = cert_not_after(*tls);
  ++core->m.tls_reloads_ok;
  core->log.log(Level::info, "tls_reloaded", {{"cert", cfg.tls_cert}});
}

// SIGHUP: the command line and --config file read again; every limit (the numeric options but
// the client/network prefixes, which the per-client counts are keyed by) takes its new value for
// what happens next; open tunnels keep what they were admitted under where it was fixed then
// (e.g. a connection's message size). Options only a restart changes are named in the log line.
void Relay::Impl::reload_limits() {
  if (!cfg.reload) return;
  Config n;
  std::string err;
  if (cfg.reload(n, err) &&
      (n.max_buffered_bytes == 0 || n.max_unpaired_message_size == 0 || n.max_message_size == 0 ||
       !(n.request_timeout > 0) || !(n.unused_contact_ttl > 0)))
    err = "--max-buffered-bytes, --max-unpaired-message-size, --max-message-size, --request-timeout and "
          "--unused-contact-ttl must be > 0";
  if (!err.empty()) {
    ++core->m.config_reloads_failed;
    core->log.log(Level::error, "config_reload_failed", {{"error", err}, {"note", "the previous limits stay"}});
    return;
  }
  std::vector<std::string> restart;
  auto same = [&](const char* name, bool eq) {
    if (!eq) restart.emplace_back(name);
  };
  same("listen", n.listen == cfg.listen);
  same("admin-listen", n.admin_listen == cfg.admin_listen);
  same("routing-id", n.routing_id.empty() || n.routing_id == cfg.routing_id);
  same("state-dir", n.state_dir == cfg.state_dir);
  same("tls-cert", n.tls_cert == cfg.tls_cert);
  same("tls-key", n.tls_key == cfg.tls_key);
  same("trusted-proxy", n.trusted_proxies == cfg.trusted_proxies);
  same("client-prefix-v4", n.client_prefix_v4 == cfg.client_prefix_v4);
  same("client-prefix-v6", n.client_prefix_v6 == cfg.client_prefix_v6);
  same("network-prefix-v4", n.network_prefix_v4 == cfg.network_prefix_v4);
  same("network-prefix-v6", n.network_prefix_v6 == cfg.network_prefix_v6);
  same("wake-webhook", n.wake_webhook == cfg.wake_webhook);
  same("wake-webhook-ca-file", n.wake_webhook_ca_file == cfg.wake_webhook_ca_file);
  same("log-level", n.log_level == cfg.log_level);
#define HG_RELOAD(f) cfg.f = core->cfg.f = n.f
  HG_RELOAD(max_message_size);
  HG_RELOAD(max_tunnel_messages);
  HG_RELOAD(max_tunnel_bytes);
  HG_RELOAD(max_pending_messages);
  HG_RELOAD(max_pending_bytes);
  HG_RELOAD(max_unpaired_message_size);
  HG_RELOAD(max_tunnel_buffer);
  HG_RELOAD(max_buffered_bytes);
  HG_RELOAD(max_client_buffer);
  HG_RELOAD(wait_timeout);
  HG_RELOAD(tunnel_lifetime);
  HG_RELOAD(idle_timeout);
  HG_RELOAD(upgrade_timeout);
  HG_RELOAD(request_timeout);
  HG_RELOAD(close_timeout);
  HG_RELOAD(drain_timeout);
  HG_RELOAD(max_header_size);
  HG_RELOAD(max_waiting_tunnels);
  HG_RELOAD(max_connections);
  HG_RELOAD(rate_new);
  HG_RELOAD(rate_new_burst);
  HG_RELOAD(rate_connect);
  HG_RELOAD(rate_connect_burst);
  HG_RELOAD(rate_table_size);
  HG_RELOAD(max_connections_per_client);
  HG_RELOAD(max_waiting_per_client);
  HG_RELOAD(max_contacts_per_client);
  HG_RELOAD(max_connections_per_network);
  HG_RELOAD(max_waiting_per_network);
  HG_RELOAD(max_contacts_per_network);
  HG_RELOAD(rate_reattach);
  HG_RELOAD(rate_reattach_burst);
  HG_RELOAD(max_webhook_in_flight);
  HG_RELOAD(max_contacts);
  HG_RELOAD(contact_ttl);
  HG_RELOAD(unused_contact_ttl);
  HG_RELOAD(listen_idle_timeout);
  HG_RELOAD(wake_webhook_timeout);
  HG_RELOAD(log_rate);
#undef HG_RELOAD
  core->apply_limits();
  ++core->m.config_reloads_ok;
  core->log.log(Level::info, "limits_reloaded", {{"restart_needed_for", restart}});
}

void Relay::Impl::pet_watchdog() {
  sd_notify(0, "WATCHDOG=1");  // from the event loop: a stuck loop stops petting it
  watchdog->expires_after(watchdog_every);
  watchdog->async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping) pet_watchdog();
  });
}

// glibc keeps the memory of freed connections (small chunks all over the heap) for the process:
// after an attack, RSS would stay at its peak. Every 5 s, if at least 64 connections went away
// since the last look, malloc_trim hands the free pages back (madvise). Large message buffers
// are mmap'd (the 128 KiB threshold hybridgate-relay fixes) and go back when freed anyway.
void Relay::Impl::trim_memory() {
  const size_t open = static_cast<size_t>(core->m.connections_open);
  if (core->conn_peak >= open + 64) {
    malloc_trim(0);
    ++core->m.malloc_trims;
  }
  core->conn_peak = open;
  trim_timer->expires_after(std::chrono::seconds(5));
  trim_timer->async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping) trim_memory();
  });
}

// Every 250 ms: how late the timer ran is time the loop spent on other work (or the process did
// not run), which every connection waited too (hybridgate_relay_event_loop_lag_seconds).
void Relay::Impl::measure_lag() {
  lag_timer->expires_after(std::chrono::milliseconds(250));
  lag_timer->async_wait([this](boost::system::error_code ec) {
    if (ec || stopping) return;
    core->m.loop_lag.observe(
        std::max(0.0, std::chrono::duration<double>(std::chrono::steady_clock::now() - lag_timer->expiry()).count()));
    measure_lag();
  });
}

// Every 10 s, if lines about single tunnels or contacts were left out (--log-rate): one line with
// how many, by event, and the tunnels finished in those 10 s by outcome (the aggregate).
void Relay::Impl::log_summary() {
  auto unlogged = core->log.take_unlogged();
  if (!unlogged.empty()) {
    nlohmann::json finished = nlohmann::json::object();
    for (auto& [outcome, n] : core->m.tunnels_finished)
      if (n > finished_seen[outcome]) finished[outcome] = n - finished_seen[outcome];
    core->log.log(Level::info, "log_summary", {{"period_s", 10}, {"unlogged", unlogged}, {"tunnels_finished", finished}});
  }
  finished_seen = core->m.tunnels_finished;
  summary_timer->expires_after(std::chrono::seconds(10));
  summary_timer->async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopping) log_summary();
  });
}

void Relay::Impl::begin_drain() {
  sd_notify(0, "STOPPING=1\nSTATUS=draining");
  core->draining = true;
  core->m.draining = true;
  core->drain_deadline = Clock::now() + secs(cfg.drain_timeout);
  core->log.log(Level::info, "draining",
                {{"tunnels", core->tunnels.size()}, {"drain_timeout_s", cfg.drain_timeout}});
  core->close_listeners();
  if (socket_activated && acceptor) {
    // The socket is systemd's: stop taking connections from it, so that they wait in its backlog
    // for the next instance instead of being answered 503 by this one.
    boost::system::error_code ec;
    acceptor->cancel(ec);
    acceptor->close(ec);
  }
  poll_drain();
}

void Relay::Impl::poll_drain() {
  // Listeners got 1012 at the start: wait for their close handshakes too (each bounded by
  // --close-timeout), so the close frame reaches the phone before the process exits. Wait as well
  // for connections accepted before the drain that are still in their request or its answer (a
  // 503, a close in progress): stopping would cut them off with no HTTP answer at all. All of it
  // bounded: a request has --request-timeout, and the drain deadline + --close-timeout ends it.
  const bool only_listeners_left = core->m.connections_open <= core->m.listeners_open;
  if (core->tunnels_live == 0 &&
      ((core->m.listeners_open == 0 && only_listeners_left) ||
       Clock::now() >= core->drain_deadline + secs(cfg.close_timeout)))
    return stop();
  if (Clock::now() >= core->drain_deadline && !core->tunnels.empty()) core->drain_all();
  drain_timer->expires_after(std::chrono::milliseconds(50));
  drain_timer->async_wait([this](boost::system::error_code ec) {
    if (!ec) poll_drain();
  });
}

void Relay::Impl::stop() {
  stopping = true;
  if (core->writer) core->writer->stop();  // commits what is queued, then the store is ours again
  if (auto st = core->store.close_clean(); !st)
    core->log.log(Level::error, "contact_store_failed", {{"error", st.error().detail}});
  boost::system::error_code ec;
  if (acceptor) acceptor->close(ec);
  if (admin_acceptor) admin_acceptor->close(ec);
  signals->cancel(ec);
  core->contact_sweep_timer->cancel();
  if (watchdog) watchdog->cancel();
  if (trim_timer) trim_timer->cancel();
  if (lag_timer) lag_timer->cancel();
  if (summary_timer) summary_timer->cancel();
  if (auto unlogged = core->log.take_unlogged(); !unlogged.empty())
    core->log.log(Level::info, "log_summary", {{"unlogged", unlogged}});
  core->log.log(Level::info, "stopped",
                {{"messages_relayed", core->m.messages_relayed}, {"tunnels_paired", core->m.tunnels_paired}});
  ioc->stop();
}

std::string contact_prefix(const std::string& routing_id_hex) {
  auto r = hex_decode_fixed<3>(routing_id_hex);
  if (!r) return {};
  return base64url_encode(as_bytes("hg" + hex_encode(*r, true) + "."));
}

Relay::Relay(Config cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
Relay::~Relay() = default;
Status Relay::start() { return impl_->start(); }
uint16_t Relay::port() const { return impl_->port; }
uint16_t Relay::admin_port() const { return impl_->admin_port; }
std::string Relay::routing_id_hex() const { return impl_->core ? impl_->core->rid_hex : std::string(); }
int Relay::run() {
  impl_->ioc->run();
  return 0;
}

}  // namespace hg::relay
