// SPDX-License-Identifier: Apache-2.0
#include "hybrid/phone.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "store/links.hpp"
#include "hybrid/run.hpp"
#include "hybrid/contacts.hpp"
#include "hybrid/phone_session.hpp"

namespace hg::hybrid {

namespace net = boost::asio;

namespace {

std::string default_phone_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) return "hybridgate phone";
  return std::string("hybridgate on ") + host;
}

}  // namespace

struct Phone::Impl {
  PhoneConfig config;
  authenticator::Authenticator& authenticator;
  Runner runner;

  Impl(PhoneConfig c, authenticator::Authenticator& a) : config(std::move(c)), authenticator(a) {}

  PhoneOptions options(const std::string& url) const {
    PhoneOptions o;
    o.server = {url, config.ca_file};
    o.domain_id = config.domain_id;
    o.connect = config.connect;
    o.desktop = config.desktop;
    o.idle = config.idle;
    return o;
  }

  // The phone's link state, with a contact at the relay (registered now if it has none yet, under
  // the state file's lock so that two processes never register two contacts for one phone).
  Result<store::PhoneLinkState> ensure_contact() {
    if (config.link_state.empty())
      return make_error(Errc::invalid_argument, "linking needs a link state file for this phone");
    store::PhoneLinkState out;
    Status st = store::update_phone_state(config.link_state, [&](store::PhoneLinkState& state) -> Status {
      if (config.tunnel_url.empty() && state.tunnel_url.empty())
        return make_error(Errc::invalid_argument, "linking needs the relay that will wake this phone: give a tunnel URL");
      const std::string url = config.tunnel_url.empty() ? state.tunnel_url : config.tunnel_url;
      if (!state.contact_id || state.tunnel_url != url) {
        HG_TRY(Bytes id, runner.run(register_contact({url, config.ca_file}, state.token_hex, std::nullopt)));
        state.contact_id = id;
        state.tunnel_url = url;
      }
      out = state;
      return ok_status();
    });
    if (!st) return st.error();
    return out;
  }
};

Phone::Phone(PhoneConfig config, authenticator::Authenticator& authenticator)
    : impl_(std::make_unique<Impl>(std::move(config), authenticator)) {}
Phone::~Phone() = default;

Result<PhoneResult> Phone::serve_qr(std::string_view fido_url, bool link, const Events& events) {
  auto& d = *impl_;
  auto finish = [&d](auto r) {
    d.runner.reset_cancel();
    return r;
  };
  auto qr = qr_payload::parse_url(fido_url);
  if (!qr) return finish(Result<PhoneResult>(qr.error()));
  auto advertiser = ble::make_advertiser(d.runner.io(), d.config.radio);
  if (!advertiser) return finish(Result<PhoneResult>(advertiser.error()));
  PhoneOptions o = d.options(d.config.tunnel_url);
  if (link && qr->supports_linking.value_or(false)) {
    auto state = d.ensure_contact();
    if (!state) return finish(Result<PhoneResult>(state.error()));
    o.link = LinkOffer{state->root_secret, *state->contact_id,
                       d.config.name.empty() ? default_phone_name() : d.config.name, d.config.forge_link_signature};
  }
  return finish(d.runner.run(run_phone_qr(**advertiser, *qr, d.authenticator, o, events)));
}

namespace {
// Whether a listen connection's end is worth reconnecting after (see Phone::listen).
bool listen_retryable(const Error& e) {
  const std::string& d = e.detail;
  switch (e.code) {
    case Errc::tunnel_unreachable:
      return true;
    case Errc::tunnel_closed:
      return d != "close 1000";
    case Errc::tunnel_refused:  // busy or restarting: 502/503/504 and 429 pass; 403/404 do not
      for (const char* st : {"HTTP 429", "HTTP 502", "HTTP 503", "HTTP 504"})
        if (d.find(st) != std::string::npos) return true;
      return false;
    default:
      return false;
  }
}
}  // namespace

Result<ListenResult> Phone::listen(int max_wakeups, const Events& events) {
  auto& d = *impl_;
  auto finish = [&d](Result<ListenResult> r) {
    d.runner.reset_cancel();
    return r;
  };
  auto advertiser = ble::make_advertiser(d.runner.io(), d.config.radio);
  if (!advertiser) return finish(advertiser.error());
  auto state = d.ensure_contact();
  if (!state) return finish(state.error());
  PhoneOptions o = d.options(state->tunnel_url);
  LinkedPhone me{state->root_secret, *state->contact_id};
  ListenResult result;
  int handled = 0;  // wake-ups handled, over every connection
  auto handler = [&](const messages::WakeUp& wake) -> net::awaitable<Status> {
    ++handled;
    auto r = co_await run_phone_linked(**advertiser, wake, me, d.authenticator, o, events);
    if (r) {
      result.requests_served += r->requests_served;
      co_return ok_status();
    }
    ++result.failed;
    co_return r.error();
  };
  // The relay going away (1012 when it restarts, 1001, a dropped connection) or not answering
  // yet is retried with backoff, 1 s doubling to 60 s, reset once a connection was up; a
  // revoked (410), unknown (404) or refused contact, and the relay closing it with 1000
  // (revoked, or replaced by a newer listener), end the listener (docs/linking.md).
  auto backoff = std::chrono::seconds(1);
  for (;;) {
    const int before = handled;
    bool was_up = false;
    Events ev{[&](Stage st, const std::string& detail) {
      if (st == Stage::listening) was_up = true;
      events.emit(st, detail);
    }};
    if (d.runner.io().stopped()) d.runner.io().restart();
    auto n = d.runner.run(listen_for_wakeups(o.server, state->token_hex, *state->contact_id,
                                             max_wakeups == 0 ? 0 : max_wakeups - before, handler, ev));
    if (n) break;  // served what was asked
    if (!listen_retryable(n.error()) || d.runner.cancelled()) return finish(n.error());
    if (was_up) backoff = std::chrono::seconds(1);
    events.emit(Stage::reconnecting, n.error().to_string() + "; again in " + std::to_string(backoff.count()) + " s");
    if (d.runner.io().stopped()) d.runner.io().restart();  // the last run used up its work
    auto slept = d.runner.run([](std::chrono::seconds wait) -> net::awaitable<Result<Unit>> {
      net::steady_timer t(co_await net::this_coro::executor, wait);
      OnCancel on_cancel(co_await net::this_coro::executor, [&t] { t.cancel(); });
      boost::system::error_code ec;
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (cancel_requested(co_await net::this_coro::executor)) co_return make_error(Errc::session_cancelled);
      co_return Unit{};
    }(backoff));
    if (!slept) return finish(slept.error());
    backoff = std::min(backoff * 2, std::chrono::seconds(60));
  }
  result.wakeups = handled;
  return finish(result);
}

Status Phone::unlink() {
  auto& d = *impl_;
  if (d.config.link_state.empty()) return make_error(Errc::invalid_argument, "this phone has no link state file");
  Status st = store::update_phone_state(d.config.link_state, [&](store::PhoneLinkState& state) -> Status {
    if (!state.contact_id) return make_error(Errc::invalid_argument, "this phone is not linked");
    const std::string url = d.config.tunnel_url.empty() ? state.tunnel_url : d.config.tunnel_url;
    auto revoked = d.runner.run([](TunnelServer server, std::string token, Bytes contact) -> net::awaitable<Result<Unit>> {
      co_return co_await revoke_contact(server, token, contact);
    }({url, d.config.ca_file}, state.token_hex, *state.contact_id));
    if (!revoked) return revoked.error();
    // A new contact ID (and token) next time: every desktop's link to the old one is dead.
    state.contact_id.reset();
    state.token_hex = hex_encode(crypto::random_bytes(32));
    return ok_status();
  });
  d.runner.reset_cancel();
  return st;
}

void Phone::cancel() { impl_->runner.cancel(); }

}  // namespace hg::hybrid
