// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace hg::relay {

#ifndef HG_VERSION
#define HG_VERSION "unknown"
#endif

Metrics::Metrics() {
  for (const char* o : {"closed", "vanished", "abandoned", "limit", "violation", "drained", "setup_failed", "wake_failed"})
    tunnels_finished[o] = 0;
  for (const char* r : {"method_not_allowed", "unknown_path", "not_websocket", "no_fido_cable_subprotocol",
                        "wrong_routing_id", "unknown_tunnel", "tunnel_exists", "tunnel_in_use", "rate_limited",
                        "max_waiting_tunnels", "max_connections", "max_connections_hard", "draining", "bad_contact_token",
                        "wrong_contact_token", "contact_revoked", "unknown_contact", "contact_unreachable",
                        "bad_client_payload", "wake_failed", "max_contacts", "revoke_without_contact",
                        "header_too_large", "request_body", "client_connections", "client_waiting_tunnels",
                        "client_contacts", "webhook_busy", "contact_store_failed", "rate_table_full", "client_handshakes",
                        "handshake_budget"})
    rejections[r] = 0;
  for (const char* l : {"message_size", "text_message", "tunnel_messages", "tunnel_bytes", "pending_buffer",
                        "wait_timeout", "idle_timeout", "tunnel_lifetime", "tunnel_buffer", "buffer_budget",
                        "listener_queue", "close_timeout", "write_timeout", "header_size", "upgrade_timeout",
                        "max_waiting_tunnels", "max_connections", "rate_new", "rate_connect", "rate_reattach",
                        "accept_failed", "max_contacts", "listen_idle_timeout", "client_connections",
                        "client_waiting_tunnels", "client_contacts", "webhook_in_flight", "client_buffer",
                        "buffer_pressure", "client_handshakes", "handshake_budget", "request_timeout", "rate_table_full"})
    limit_hits[l] = 0;
  for (uint16_t c : {0, 1000, 1001, 1003, 1008, 1009, 1011, 1012}) close_codes[c] = 0;
  for (const char* c : {"listen", "webhook"}) wakeups[c] = 0;
  for (const char* s : {"101", "400", "404", "410", "429", "503"}) contact_requests[s] = 0;
  for (const char* r : {"delivered", "gone", "refused", "failed"}) webhook_results[r] = 0;
}

void Histogram::observe(double v) {
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (v <= bounds_[i]) ++counts_[i];
  ++count_;
  sum_ += v;
}

namespace {
std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}
void line(std::string& out, const std::string& name, const std::string& labels, uint64_t v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + std::to_string(v) + "\n";
}
void head(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}
long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0, rss = 0;
  f >> size >> rss;
  return rss * sysconf(_SC_PAGESIZE);
}
long vm_bytes() {
  std::ifstream f("/proc/self/statm");
  long size = 0;
  f >> size;
  return size * sysconf(_SC_PAGESIZE);
}
double start_time_seconds() {  // field 22 of /proc/self/stat (clock ticks since boot) + btime
  static const double cached = [] {
    std::ifstream s("/proc/self/stat");
    std::string all((std::istreambuf_iterator<char>(s)), std::istreambuf_iterator<char>());
    auto rp = all.rfind(')');
    if (rp == std::string::npos) return 0.0;
    std::istringstream rest(all.substr(rp + 2));
    std::string field;
    unsigned long long ticks = 0;
    for (int i = 3; i <= 22 && rest >> field; ++i)
      if (i == 22) ticks = std::stoull(field);
    std::ifstream st("/proc/stat");
    std::string key;
    unsigned long long btime = 0;
    while (st >> key)
      if (key == "btime") {
        st >> btime;
        break;
      }
    return static_cast<double>(btime) + static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }();
  return cached;
}
std::string fixed(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}
double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}
long open_fds() {
  long n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    --n;  // the directory's own descriptor
  }
  return n;
}
long max_fds() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_cur);
}
}  // namespace

void Histogram::render(std::string& out, const std::string& name) const {
  for (size_t i = 0; i < bounds_.size(); ++i)
    line(out, name + "_bucket", "le=\"" + num(bounds_[i]) + "\"", counts_[i]);
  line(out, name + "_bucket", "le=\"+Inf\"", count_);
  out += name + "_sum " + num(sum_) + "\n";
  line(out, name + "_count", "", count_);
}

std::string Metrics::render() const {
  std::string o;
  const std::string p = "hybridgate_relay_";
  auto gauge = [&](const char* n, const char* help, int64_t v) {
    head(o, p + n, "gauge", help);
    o += p + n + " " + std::to_string(v) + "\n";
  };
  auto counter = [&](const char* n, const char* help, uint64_t v) {
    head(o, p + n, "counter", help);
    line(o, p + n, "", v);
  };
  auto labelled = [&](const char* n, const char* help, const char* label, const auto& m) {
    head(o, p + n, "counter", help);
    for (auto& [k, v] : m) {
      std::string key;
      if constexpr (std::is_same_v<std::decay_t<decltype(k)>, std::string>) key = k;
      else if constexpr (std::is_same_v<std::decay_t<decltype(k)>, uint16_t>) key = k ? std::to_string(k) : "other";
      else key = std::to_string(k);
      line(o, p + n, std::string(label) + "=\"" + key + "\"", v);
    }
  };
  gauge("tunnels_waiting", "Tunnels whose first side (phone) waits for the second (desktop).", tunnels_waiting);
  gauge("tunnels_active", "Tunnels with both sides connected.", tunnels_active);
  gauge("connections_open", "Open client connections (any phase).", connections_open);
  gauge("buffered_bytes", "Message buffer bytes charged to the memory budget (--max-buffered-bytes).", buffered_bytes);
  gauge("draining", "1 while the relay drains after SIGTERM.", draining ? 1 : 0);
  counter("connections_total", "Client connections accepted.", connections_total);
  head(o, p + "upgrades_total", "counter", "Successful WebSocket upgrades by path kind.");
  line(o, p + "upgrades_total", "kind=\"new\"", upgrades_new);
  line(o, p + "upgrades_total", "kind=\"connect\"", upgrades_connect);
  line(o, p + "upgrades_total", "kind=\"contact\"", upgrades_contact);
  line(o, p + "upgrades_total", "kind=\"listen\"", upgrades_listen);
  counter("tunnels_paired_total", "Tunnels whose two sides were joined.", tunnels_paired);
  labelled("tunnels_finished_total", "Tunnels finished, by outcome.", "outcome", tunnels_finished);
  counter("messages_relayed_total", "Binary messages delivered to a peer (or buffered for it).", messages_relayed);
  counter("relayed_bytes_total", "Payload bytes of relayed messages.", bytes_relayed);
  labelled("rejections_total", "HTTP upgrade requests refused, by reason.", "reason", rejections);
  labelled("limit_hits_total", "Limits hit, by limit.", "limit", limit_hits);
  labelled("close_codes_sent_total", "WebSocket close codes the relay sent, by code.", "code", close_codes);
  counter("tls_handshake_failures_total", "TLS handshakes that failed.", tls_handshake_failures);
  gauge("handshaking_connections", "Connections whose TLS handshake or HTTP request is not complete yet.",
        handshaking);
  counter("malloc_trims_total", "Times the relay returned freed heap memory to the system (malloc_trim).",
          malloc_trims);
  head(o, p + "tls_reloads_total", "counter", "TLS certificate reloads (SIGHUP), by result.");
  line(o, p + "tls_reloads_total", "result=\"ok\"", tls_reloads_ok);
  line(o, p + "tls_reloads_total", "result=\"failed\"", tls_reloads_failed);
  head(o, p + "config_reloads_total", "counter", "Limits re-read on SIGHUP (command line and --config file), by result.");
  line(o, p + "config_reloads_total", "result=\"ok\"", config_reloads_ok);
  line(o, p + "config_reloads_total", "result=\"failed\"", config_reloads_failed);
  gauge("contacts_registered", "Contact IDs registered and not revoked (with or without a listener).",
        contacts_registered);
  gauge("contacts_revoked", "Revoked contact IDs still remembered (answered 410) until --contact-ttl.", contacts_revoked);
  counter("contacts_revoked_total", "Contacts revoked by their phone.", contacts_revoked_total);
  counter("contact_store_errors_total", "Failed writes to the contact store (--state-dir).", store_errors);
  gauge("listeners_open", "Phones' listen connections attached to a contact.", listeners_open);
  gauge("webhook_requests_in_flight", "Wake-up webhook POSTs waiting for an answer.", webhook_in_flight);
  labelled("wakeups_sent_total", "Wake-ups sent to phones, by channel (listen, webhook).", "channel", wakeups);
  labelled("contact_requests_total", "/cable/contact requests, by HTTP status answered.", "status", contact_requests);
  labelled("webhook_results_total", "Wake-up webhook POSTs by result: delivered (2xx), gone (404/410), refused (other status), failed (no answer).",
           "result", webhook_results);
  head(o, p + "pairing_latency_seconds", "histogram", "Time from the phone's upgrade to the desktop's upgrade.");
  pairing_latency.render(o, p + "pairing_latency_seconds");
  head(o, p + "tunnel_duration_seconds", "histogram", "Whole life of finished tunnels, from the phone's upgrade.");
  tunnel_duration.render(o, p + "tunnel_duration_seconds");
  head(o, p + "event_loop_lag_seconds", "histogram",
       "How late the event loop ran a 250 ms timer (time spent on other work, or the process not running).");
  loop_lag.render(o, p + "event_loop_lag_seconds");
  if (tls_not_after > 0) {
    head(o, p + "tls_certificate_expiry_timestamp_seconds", "gauge",
         "notAfter of the TLS certificate in use (--tls-cert, re-read on SIGHUP), Unix seconds.");
    o += p + "tls_certificate_expiry_timestamp_seconds " + fixed(tls_not_after) + "\n";
  }
  head(o, p + "limit", "gauge", "Every effective limit (options after defaults and automatic values), by option name.");
  for (auto& [k, v] : limits) o += p + "limit{limit=\"" + k + "\"} " + num(v) + "\n";
  head(o, p + "build_info", "gauge", "Always 1; the label carries the relay's version.");
  o += p + "build_info{version=\"" HG_VERSION "\"} 1\n";
  head(o, "process_resident_memory_bytes", "gauge", "Resident set size of the relay process.");
  o += "process_resident_memory_bytes " + std::to_string(rss_bytes()) + "\n";
  head(o, "process_virtual_memory_bytes", "gauge", "Virtual memory size of the relay process.");
  o += "process_virtual_memory_bytes " + std::to_string(vm_bytes()) + "\n";
  head(o, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
  o += "process_start_time_seconds " + fixed(start_time_seconds()) + "\n";
  head(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
  o += "process_cpu_seconds_total " + fixed(cpu_seconds()) + "\n";
  head(o, "process_open_fds", "gauge", "Open file descriptors.");
  o += "process_open_fds " + std::to_string(open_fds()) + "\n";
  head(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
  o += "process_max_fds " + std::to_string(max_fds()) + "\n";
  return o;
}

}  // namespace hg::relay
