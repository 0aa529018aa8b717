// SPDX-License-Identifier: Apache-2.0
#include "hybrid/desktop.hpp"

#include <ctime>

#include "hybrid/links.hpp"
#include "hybrid/run.hpp"
#include "hybrid/session.hpp"
#include "hybrid/webauthn.hpp"
#include "proto/crypto.hpp"

namespace hg::hybrid {

namespace net = boost::asio;

std::string_view to_string(Stage s) {
  switch (s) {
    case Stage::qr_shown: return "qr_shown";
    case Stage::scanning: return "scanning";
    case Stage::phone_found: return "phone_found";
    case Stage::tunnel_connected: return "tunnel_connected";
    case Stage::secure_channel: return "secure_channel";
    case Stage::waiting_for_user: return "waiting_for_user";
    case Stage::done: return "done";
    case Stage::tunnel_opened: return "tunnel_opened";
    case Stage::advertising: return "advertising";
    case Stage::desktop_connected: return "desktop_connected";
    case Stage::request_served: return "request_served";
    case Stage::listening: return "listening";
    case Stage::woken: return "woken";
  }
  return "unknown";
}

namespace {

// The Connection handed to with_connection() users: blocking transact() over the session.
class BlockingConnection final : public Connection {
 public:
  BlockingConnection(Runner& runner, DesktopSession& session, const Events& events)
      : runner_(runner), session_(session), events_(events) {}
  ByteView get_info() const override { return session_.get_info(); }
  Result<Bytes> transact(ByteView request) override {
    Bytes req(request.begin(), request.end());
    return runner_.run([](DesktopSession& s, Bytes r, const Events& ev) -> net::awaitable<Result<Bytes>> {
      co_return co_await s.transact(r, ev);
    }(session_, std::move(req), events_));
  }

 private:
  Runner& runner_;
  DesktopSession& session_;
  const Events& events_;
};

void notify(const DesktopCallbacks& cb, const std::string& sentence) {
  if (cb.notice) cb.notice(sentence);
}

}  // namespace

struct Desktop::Impl {
  DesktopConfig config;
  Runner runner;

  Result<std::filesystem::path> links_path() const {
    if (!config.links_file.empty()) return config.links_file;
    return default_links_path();
  }

  TunnelServer server(const std::string& url) const { return {url, config.ca_file}; }

  // Connects to the phone (QR code or remembered phone), runs `use`, closes the session and
  // remembers a phone that offered a verified link.
  Status ceremony(qr_payload::RequestType hint, const DesktopCallbacks& cb, const std::string& phone,
                  const std::function<Status(Connection&)>& use) {
    Events events{cb.stage};
    auto scanner = ble::make_scanner(runner.io(), config.radio);
    if (!scanner) return scanner.error();

    std::optional<LinkStore> store;
    std::optional<qr_payload::DesktopQr> qr;  // outlives the session (its key verifies linking info)
    std::optional<Result<Connected>> connected;
    if (!phone.empty()) {
      HG_TRY(auto path, links_path());
      HG_TRY(auto s, LinkStore::open(path));
      store.emplace(std::move(s));
      const StoredLink* stored = store->find(phone);
      if (!stored) return make_error(Errc::invalid_argument, "no remembered phone named '" + phone + "'");
      notify(cb, "asking phone '" + phone + "' (no QR code)");
      const std::string url = config.tunnel_url.empty() ? stored->tunnel_url : config.tunnel_url;
      connected.emplace(runner.run(connect_linked(**scanner, stored->link, hint, server(url), config.deadlines, events)));
      if (!*connected && connected->error().code == Errc::tunnel_gone) {
        (void)store->remove(phone);
        return make_error(Errc::tunnel_gone, "forgot '" + phone + "'; use a QR code to link it again");
      }
    } else {
      qr.emplace(qr_payload::generate({.request_type = hint,
                                       .supports_linking = config.link_phone,
                                       .known_domains = 2,
                                       .timestamp = uint64_t(std::time(nullptr))}));
      if (cb.qr) cb.qr(qr->url);
      events.emit(Stage::qr_shown);
      connected.emplace(runner.run(connect_qr(**scanner, *qr, server(config.tunnel_url), config.deadlines, events)));
    }
    if (!*connected) return connected->error();
    DesktopSession& session = *(*connected)->session;
    BlockingConnection conn(runner, session, events);
    Status st = use(conn);
    // Close (shutdown + close frame) even after an error or a cancellation: the phone learns at once.
    runner.reset_cancel();
    (void)runner.run([](DesktopSession& s) -> net::awaitable<Result<Unit>> {
      co_await s.close();
      co_return Unit{};
    }(session));
    if (st) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                      (*connected)->found_at);
      events.emit(Stage::done, "phone found → result in " + std::to_string(ms.count()) + " ms");
    }
    remember(session, cb);
    return st;
  }

  void remember(const DesktopSession& s, const DesktopCallbacks& cb) {
    if (s.linking_rejected())
      notify(cb, "the phone offered to be remembered, but its linking information has an invalid signature; "
                 "it was not stored [linking.signature]");
    if (!s.linking()) return;
    const auto& l = *s.linking();
    auto fail = [&](const Error& e) { notify(cb, "cannot remember the phone: " + e.to_string()); };
    auto path = links_path();
    if (!path) return fail(path.error());
    auto store = LinkStore::open(*path);
    if (!store) return fail(store.error());
    StoredLink link;
    link.name = l.name.empty() ? "phone" : l.name;
    link.link.contact_id = l.contact_id;
    link.link.pairing_id = l.pairing_id;
    link.link.link_secret = l.link_secret;
    link.link.phone_public_key = l.identity_public_key;
    link.link.domain_id = s.domain_id();
    link.tunnel_url = config.tunnel_url;
    link.created = uint64_t(std::time(nullptr));
    const std::string name = link.name;
    if (auto st = store->add(std::move(link)); !st) return fail(st.error());
    notify(cb, "remembered phone '" + name + "'");
  }

  template <typename Prepared>
  Result<Bytes> run_prepared(const Prepared& p, qr_payload::RequestType hint, const DesktopCallbacks& cb,
                             const std::string& phone) {
    Bytes response;
    HG_CHECK(ceremony(hint, cb, phone, [&](Connection& c) -> Status {
      bool prf_left_out = false;
      HG_TRY(Bytes request, webauthn::request_for(p, c.get_info(), &prf_left_out));
      if (prf_left_out) notify(cb, "the phone does not offer the PRF extension; asking without it");
      HG_TRY(response, c.transact(request));
      return ok_status();
    }));
    return response;
  }
};

Desktop::Desktop(DesktopConfig config) : impl_(std::make_unique<Impl>()) { impl_->config = std::move(config); }
Desktop::~Desktop() = default;

Result<nlohmann::json> Desktop::create(std::string_view options_json, std::string_view origin,
                                       const DesktopCallbacks& callbacks, const std::string& phone) {
  HG_TRY(auto options, webauthn::parse_creation_options(options_json));
  HG_TRY(auto prepared, webauthn::prepare(options, origin));
  auto response = impl_->run_prepared(prepared, qr_payload::RequestType::make_credential, callbacks, phone);
  impl_->runner.reset_cancel();
  if (!response) return response.error();
  return webauthn::registration_json(prepared, *response);
}

Result<nlohmann::json> Desktop::get(std::string_view options_json, std::string_view origin,
                                    const DesktopCallbacks& callbacks, const std::string& phone) {
  HG_TRY(auto options, webauthn::parse_request_options(options_json));
  HG_TRY(auto prepared, webauthn::prepare(options, origin));
  auto response = impl_->run_prepared(prepared, qr_payload::RequestType::get_assertion, callbacks, phone);
  impl_->runner.reset_cancel();
  if (!response) return response.error();
  return webauthn::assertion_json(prepared, *response);
}

Status Desktop::with_connection(qr_payload::RequestType hint, const DesktopCallbacks& callbacks, const std::string& phone,
                                const ConnectionUser& use) {
  auto st = impl_->ceremony(hint, callbacks, phone, use);
  impl_->runner.reset_cancel();
  return st;
}

Result<std::vector<RememberedPhone>> Desktop::phones() const {
  HG_TRY(auto path, impl_->links_path());
  HG_TRY(auto store, LinkStore::open(path));
  std::vector<RememberedPhone> out;
  for (const auto& l : store.links()) {
    auto h = crypto::sha256(l.link.contact_id);
    out.push_back({l.name, l.link.domain_id, l.tunnel_url, l.created, hex_encode(ByteView(h.data(), 4))});
  }
  return out;
}

Result<bool> Desktop::forget(const std::string& name) {
  HG_TRY(auto path, impl_->links_path());
  HG_TRY(auto store, LinkStore::open(path));
  return store.remove(name);
}

void Desktop::cancel() { impl_->runner.cancel(); }

}  // namespace hg::hybrid
