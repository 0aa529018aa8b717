// SPDX-License-Identifier: Apache-2.0
#include "tunnel/server/metrics.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace hg::relay {

void Histogram::observe(double v) {
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (v <= kBounds[i]) ++counts_[i];
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
}  // namespace

void Histogram::render(std::string& out, const std::string& name) const {
  for (size_t i = 0; i < kBounds.size(); ++i)
    line(out, name + "_bucket", "le=\"" + num(kBounds[i]) + "\"", counts_[i]);
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
  counter("bytes_relayed_total", "Payload bytes of relayed messages.", bytes_relayed);
  labelled("rejections_total", "HTTP upgrade requests refused, by reason.", "reason", rejections);
  labelled("limit_hits_total", "Limits hit, by limit.", "limit", limit_hits);
  labelled("close_codes_sent_total", "WebSocket close codes the relay sent, by code.", "code", close_codes);
  counter("tls_handshake_failures_total", "TLS handshakes that failed.", tls_handshake_failures);
  head(o, p + "tls_reloads_total", "counter", "TLS certificate reloads (SIGHUP), by result.");
  line(o, p + "tls_reloads_total", "result=\"ok\"", tls_reloads_ok);
  line(o, p + "tls_reloads_total", "result=\"failed\"", tls_reloads_failed);
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
  head(o, "process_resident_memory_bytes", "gauge", "Resident set size of the relay process.");
  o += "process_resident_memory_bytes " + std::to_string(rss_bytes()) + "\n";
  return o;
}

}  // namespace hg::relay
