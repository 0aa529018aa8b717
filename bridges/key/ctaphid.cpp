// SPDX-License-Identifier: Apache-2.0
#include "bridges/key/ctaphid.hpp"

#include <algorithm>
#include <cstring>

namespace hg::key {
namespace {

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
void write_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

void error_to(uint32_t cid, HidError e, std::vector<Report>& out) {
  const uint8_t code = static_cast<uint8_t>(e);
  auto r = frame_message(cid, cmd::error, ByteView(&code, 1));
  out.insert(out.end(), r.begin(), r.end());
}

constexpr uint8_t kInitBit = 0x80;
constexpr uint8_t kMaxLockSeconds = 10;

}  // namespace

std::vector<Report> frame_message(uint32_t cid, uint8_t command, ByteView payload) {
  std::vector<Report> out;
  if (payload.size() > kMaxMessage) return out;
  Report r{};
  write_be32(r.data(), cid);
  r[4] = static_cast<uint8_t>(kInitBit | command);
  r[5] = static_cast<uint8_t>(payload.size() >> 8);
  r[6] = static_cast<uint8_t>(payload.size());
  size_t n = std::min(payload.size(), kInitPayload);
  if (n) std::memcpy(r.data() + 7, payload.data(), n);
  out.push_back(r);
  size_t done = n;
  for (uint8_t seq = 0; done < payload.size(); ++seq) {
    Report c{};
    write_be32(c.data(), cid);
    c[4] = seq;
    n = std::min(payload.size() - done, kContPayload);
    std::memcpy(c.data() + 5, payload.data() + done, n);
    done += n;
    out.push_back(c);
  }
  return out;
}

CtapHid::CtapHid(Backend& backend, CtapHidConfig config) : backend_(backend), config_(config) {
  if (config_.max_channels == 0) config_.max_channels = 1;
  channels_.reserve(config_.max_channels);
}

std::optional<uint64_t> CtapHid::pending() const {
  if (tx_) return tx_->id;
  return std::nullopt;
}

bool CtapHid::known(uint32_t cid) const {
  return std::any_of(channels_.begin(), channels_.end(), [&](const Channel& c) { return c.cid == cid; });
}

void CtapHid::touch(uint32_t cid) {
  for (auto& c : channels_)
    if (c.cid == cid) c.last_used = ++use_counter_;
}

uint32_t CtapHid::allocate() {
  if (channels_.size() >= config_.max_channels) {
    // Reuse the least recently used entry that holds nothing in progress.
    auto holds = [&](uint32_t cid) {
      return (rx_ && rx_->cid == cid) || (tx_ && tx_->cid == cid) || (lock_ && lock_->first == cid);
    };
    auto victim = channels_.end();
    for (auto it = channels_.begin(); it != channels_.end(); ++it)
      if (!holds(it->cid) && (victim == channels_.end() || it->last_used < victim->last_used)) victim = it;
    if (victim == channels_.end()) victim = channels_.begin();  // unreachable: at most 3 are held
    channels_.erase(victim);
  }
  uint32_t cid;
  do {
    cid = next_cid_++;
  } while (cid == 0 || cid == kBroadcast || known(cid));
  channels_.push_back({cid, ++use_counter_});
  return cid;
}

bool CtapHid::locked_by_other(uint32_t cid, Millis now) const {
  return lock_ && lock_->first != cid && now < lock_->second;
}

void CtapHid::abandon_transaction_of(uint32_t cid) {
  if (tx_ && tx_->cid == cid && !tx_->abandoned) {
    tx_->abandoned = true;
    backend_.cancel(tx_->id);
  }
}

void CtapHid::host_gone() {
  rx_.reset();
  lock_.reset();
  if (tx_ && !tx_->abandoned) {
    tx_->abandoned = true;
    backend_.cancel(tx_->id);
  }
  channels_.clear();
}

std::vector<Report> CtapHid::receive(ByteView report, Millis now) {
  std::vector<Report> out = tick(now);  // a message timeout that expired comes first
  if (report.size() != kReportSize) return out;
  const uint32_t cid = read_be32(report.data());
  const uint8_t b = report[4];

  if (b & kInitBit) {
    const uint8_t command = b & 0x7f;
    const size_t len = (size_t{report[5]} << 8) | report[6];
    if (cid == 0) {
      error_to(cid, HidError::invalid_channel, out);
      return out;
    }
    if (command == cmd::init) {
      if (cid != kBroadcast && !known(cid)) {
        error_to(cid, HidError::invalid_channel, out);
      } else if (len != 8) {
        error_to(cid, HidError::invalid_len, out);
      } else {
        handle_init(cid, report.subspan(7, 8), out);
      }
      return out;
    }
    if (cid == kBroadcast || !known(cid)) {
      error_to(cid, HidError::invalid_channel, out);
      return out;
    }
    if (command == cmd::cancel) {  // never answered itself
      if (rx_ && rx_->cid == cid) rx_.reset();
      if (tx_ && tx_->cid == cid && !tx_->abandoned) backend_.cancel(tx_->id);
      return out;
    }
    if (rx_) {
      if (rx_->cid == cid) {  // a new message before the last one was whole
        rx_.reset();
        error_to(cid, HidError::invalid_seq, out);
      } else {
        error_to(cid, HidError::channel_busy, out);
      }
      return out;
    }
    if (tx_ || locked_by_other(cid, now)) {
      error_to(cid, HidError::channel_busy, out);
      return out;
    }
    if (len > kMaxMessage) {
      error_to(cid, HidError::invalid_len, out);
      return out;
    }
    touch(cid);
    if (len <= kInitPayload) {
      handle_message(cid, command, Bytes(report.begin() + 7, report.begin() + 7 + static_cast<std::ptrdiff_t>(len)),
                     now, out);
      return out;
    }
    Assembly a{cid, command, len, 0, now, {}};
    a.data.reserve(len);
    a.data.assign(report.begin() + 7, report.end());
    rx_ = std::move(a);
    return out;
  }

  // A continuation packet: only meaningful for the message being received; others are spurious
  // (the specification says to ignore them).
  if (!rx_ || rx_->cid != cid) return out;
  if (b != rx_->next_seq) {
    rx_.reset();
    error_to(cid, HidError::invalid_seq, out);
    return out;
  }
  const size_t n = std::min(rx_->total - rx_->data.size(), kContPayload);
  rx_->data.insert(rx_->data.end(), report.begin() + 5, report.begin() + 5 + static_cast<std::ptrdiff_t>(n));
  ++rx_->next_seq;
  if (rx_->data.size() == rx_->total) {
    Assembly a = std::move(*rx_);
    rx_.reset();
    handle_message(a.cid, a.cmd, std::move(a.data), now, out);
  }
  return out;
}

void CtapHid::handle_init(uint32_t cid, ByteView nonce, std::vector<Report>& out) {
  uint32_t assigned = cid;
  if (cid == kBroadcast) {
    assigned = allocate();
  } else {  // resynchronise this channel
    if (rx_ && rx_->cid == cid) rx_.reset();
    abandon_transaction_of(cid);
    touch(cid);
  }
  uint8_t payload[17];
  std::memcpy(payload, nonce.data(), 8);
  write_be32(payload + 8, assigned);
  payload[12] = 2;  // CTAPHID protocol version
  payload[13] = config_.device_version[0];
  payload[14] = config_.device_version[1];
  payload[15] = config_.device_version[2];
  payload[16] = capability::wink | capability::cbor | capability::nmsg;
  auto r = frame_message(cid, cmd::init, ByteView(payload, sizeof payload));
  out.insert(out.end(), r.begin(), r.end());
}

void CtapHid::handle_message(uint32_t cid, uint8_t command, Bytes payload, Millis now, std::vector<Report>& out) {
  auto reply = [&](ByteView data) {
    auto r = frame_message(cid, command, data);
    out.insert(out.end(), r.begin(), r.end());
  };
  switch (command) {
    case cmd::ping:
      reply(payload);
      return;
    case cmd::wink:
      if (!payload.empty()) return error_to(cid, HidError::invalid_len, out);
      backend_.wink();
      reply({});
      return;
    case cmd::lock: {
      if (payload.size() != 1) return error_to(cid, HidError::invalid_len, out);
      const uint8_t seconds = payload[0];
      if (seconds > kMaxLockSeconds) return error_to(cid, HidError::invalid_par, out);
      if (seconds == 0) {
        if (lock_ && lock_->first == cid) lock_.reset();
      } else {
        lock_ = std::make_pair(cid, now + Millis(1000) * seconds);
      }
      reply({});
      return;
    }
    case cmd::cbor: {
      if (payload.empty()) return error_to(cid, HidError::invalid_len, out);
      const uint64_t id = next_id_++;
      tx_ = Transaction{id, cid, Keepalive::processing, now + config_.keepalive_interval, false};
      backend_.submit(id, cid, payload);
      return;
    }
    default:  // MSG (no CTAP1), KEEPALIVE/ERROR (device to host only), vendor and unknown commands
      return error_to(cid, HidError::invalid_cmd, out);
  }
}

std::vector<Report> CtapHid::tick(Millis now) {
  std::vector<Report> out;
  if (rx_ && now - rx_->started >= config_.message_timeout) {
    const uint32_t cid = rx_->cid;
    rx_.reset();
    error_to(cid, HidError::msg_timeout, out);
  }
  if (lock_ && now >= lock_->second) lock_.reset();
  if (tx_ && !tx_->abandoned && now >= tx_->next_keepalive) {
    const uint8_t status = static_cast<uint8_t>(tx_->status);
    auto r = frame_message(tx_->cid, cmd::keepalive, ByteView(&status, 1));
    out.insert(out.end(), r.begin(), r.end());
    tx_->next_keepalive = now + config_.keepalive_interval;
  }
  return out;
}

std::optional<Millis> CtapHid::next_wakeup() const {
  std::optional<Millis> t;
  auto earliest = [&](Millis m) {
    if (!t || m < *t) t = m;
  };
  if (rx_) earliest(rx_->started + config_.message_timeout);
  if (tx_ && !tx_->abandoned) earliest(tx_->next_keepalive);
  return t;
}

void CtapHid::set_status(uint64_t id, Keepalive status, Millis now) {
  if (!tx_ || tx_->id != id) return;
  tx_->status = status;
  tx_->next_keepalive = std::min(tx_->next_keepalive, now);
}

std::vector<Report> CtapHid::complete(uint64_t id, ByteView response, Millis now) {
  if (!tx_ || tx_->id != id) return tick(now);
  const Transaction t = *tx_;
  tx_.reset();
  std::vector<Report> out = tick(now);  // message timeouts; no keepalive for what just ended
  if (t.abandoned || !known(t.cid)) return out;
  if (response.empty() || response.size() > kMaxMessage) {
    error_to(t.cid, HidError::other, out);
    return out;
  }
  touch(t.cid);
  auto r = frame_message(t.cid, cmd::cbor, response);
  out.insert(out.end(), r.begin(), r.end());
  return out;
}

}  // namespace hg::key
