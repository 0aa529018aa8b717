// SPDX-License-Identifier: Apache-2.0
#include "hybrid/phone.hpp"

#include <unistd.h>

#include "hybrid/links.hpp"
#include "hybrid/run.hpp"
#include "hybrid/session.hpp"

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
  Result<PhoneLinkState> ensure_contact() {
    if (config.link_state.empty())
      return make_error(Errc::invalid_argument, "linking needs a link state file for this phone");
    PhoneLinkState out;
    Status st = update_phone_state(config.link_state, [&](PhoneLinkState& state) -> Status {
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
  auto handler = [&](const messages::WakeUp& wake) -> net::awaitable<Status> {
    auto r = co_await run_phone_linked(**advertiser, wake, me, d.authenticator, o, events);
    if (r) {
      result.requests_served += r->requests_served;
      co_return ok_status();
    }
    ++result.failed;
    co_return r.error();
  };
  auto n = d.runner.run(listen_for_wakeups(o.server, state->token_hex, *state->contact_id, max_wakeups, handler, events));
  if (!n) return finish(n.error());
  result.wakeups = *n;
  return finish(result);
}

Status Phone::unlink() {
  auto& d = *impl_;
  if (d.config.link_state.empty()) return make_error(Errc::invalid_argument, "this phone has no link state file");
  Status st = update_phone_state(d.config.link_state, [&](PhoneLinkState& state) -> Status {
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
