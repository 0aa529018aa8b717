// SPDX-License-Identifier: Apache-2.0
#include "hybrid/desktop.hpp"

#include <boost/asio/steady_timer.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "store/links.hpp"
#include "store/private_file.hpp"
#include "hybrid/run.hpp"
#include "hybrid/desktop_session.hpp"
#include "webauthn/webauthn.hpp"
#include "proto/crypto.hpp"

namespace hg::hybrid {

namespace net = boost::asio;


namespace {

void notify(const DesktopCallbacks& cb, const std::string& sentence) {
  if (cb.notice) cb.notice(sentence);
}

}  // namespace

// One open session with a phone, between connect and close.
struct OpenSession {
  DesktopCallbacks callbacks;
  Events events;
  std::unique_ptr<ble::Scanner> scanner;
  std::optional<qr_payload::DesktopQr> qr;  // outlives the session (its key verifies linking info)
  Connected connected;
};

struct Desktop::Impl {
  DesktopConfig config;
  Runner runner;
  bool connection_open = false;  // a connect() object lives

  Result<std::filesystem::path> links_path() const {
    if (!config.links_file.empty()) return config.links_file;
    return store::default_links_path();
  }

  TunnelServer server(const std::string& url) const { return {url, config.ca_file}; }

  // Connects to the phone: the remembered phone `phone_arg` (or config.phone), else a QR code.
  Result<std::unique_ptr<OpenSession>> open(qr_payload::RequestType hint, const DesktopCallbacks& cb,
                                            const std::string& phone_arg) {
    auto s = std::make_unique<OpenSession>();
    s->callbacks = cb;
    s->events = Events{cb.stage};
    HG_TRY(s->scanner, ble::make_scanner(runner.io(), config.radio));
    const std::string& phone = phone_arg.empty() ? config.phone : phone_arg;

    std::optional<Result<Connected>> connected;
    if (!phone.empty()) {
      HG_TRY(auto path, links_path());
      HG_TRY(auto store, store::LinkStore::open(path));
      const store::StoredLink* stored = store.find(phone);
      if (!stored) return make_error(Errc::invalid_argument, "no remembered phone named '" + phone + "'");
      notify(cb, "asking phone '" + phone + "' (no QR code)");
      const std::string url = config.tunnel_url.empty() ? stored->tunnel_url : config.tunnel_url;
      connected.emplace(
          runner.run(connect_linked(*s->scanner, stored->link, hint, server(url), config.deadlines, s->events)));
      if (!*connected && connected->error().code == Errc::tunnel_gone) {
        (void)store.remove(phone);
        return make_error(Errc::tunnel_gone, "forgot '" + phone + "'; use a QR code to link it again");
      }
    } else {
      s->qr.emplace(qr_payload::generate({.request_type = hint,
                                          .supports_linking = config.link_phone,
                                          .known_domains = 2,
                                          .timestamp = uint64_t(std::time(nullptr))}));
      if (!cb.qr && config.qr_url_file.empty())
        return make_error(Errc::invalid_argument,
                          "there is nowhere to show the QR code: give a QR callback or a QR URL file, or name a "
                          "remembered phone");
      if (!config.qr_url_file.empty()) {
        if (auto st = store::write_private_file(config.qr_url_file, s->qr->url + "\n"); !st)
          return make_error(Errc::io, "cannot write the QR URL file " + config.qr_url_file.string() + ": " +
                                          st.error().to_string());
      }
      if (cb.qr) cb.qr(s->qr->url);
      s->events.emit(Stage::qr_shown);
      connected.emplace(runner.run(connect_qr(*s->scanner, *s->qr, server(config.tunnel_url), config.deadlines, s->events)));
      // The QR code has done its work (a phone answered it, or the attempt is over): a script
      // watching the file must never pick up a stale one. Only while it still holds this
      // ceremony's URL: another ceremony (a second browser tab's host, started as this one
      // ended) may have written its own there meanwhile, and that one must stay.
      if (!config.qr_url_file.empty()) {
        std::ifstream in(config.qr_url_file, std::ios::binary);
        const std::string now((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        in.close();
        std::error_code ignored;
        if (now == s->qr->url + "\n") std::filesystem::remove(config.qr_url_file, ignored);
      }
    }
    if (!*connected) return connected->error();
    s->connected = std::move(**connected);
    return s;
  }

  // Closes the session (shutdown + close frame, even after an error or a cancellation: the phone
  // learns at once) and remembers a phone that offered a verified link.
  void close(OpenSession& s, bool succeeded) {
    DesktopSession& session = *s.connected.session;
    runner.reset_cancel();
    (void)runner.run([](DesktopSession& d) -> net::awaitable<Result<Unit>> {
      co_await d.close();
      co_return Unit{};
    }(session));
    if (succeeded) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                      s.connected.found_at);
      s.events.emit(Stage::done, "phone found → result in " + std::to_string(ms.count()) + " ms");
    }
    remember(session, s.callbacks);
  }

  Result<Bytes> transact(OpenSession& s, ByteView request) {
    Bytes req(request.begin(), request.end());
    return runner.run([](DesktopSession& d, Bytes r, const Events& ev) -> net::awaitable<Result<Bytes>> {
      co_return co_await d.transact(r, ev);
    }(*s.connected.session, std::move(req), s.events));
  }

  Status ceremony(qr_payload::RequestType hint, const DesktopCallbacks& cb, const std::string& phone,
                  const std::function<Status(Connection&)>& use);

  void remember(const DesktopSession& s, const DesktopCallbacks& cb) {
    if (s.linking_rejected())
      notify(cb, "the phone offered to be remembered, but its linking information has an invalid signature; "
                 "it was not stored [linking.signature]");
    if (!s.linking()) return;
    const auto& l = *s.linking();
    auto fail = [&](const Error& e) { notify(cb, "cannot remember the phone: " + e.to_string()); };
    auto path = links_path();
    if (!path) return fail(path.error());
    auto store = store::LinkStore::open(*path);
    if (!store) return fail(store.error());
    store::StoredLink link;
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

  // Runs `f` (blocking calls on this Desktop's runner) with the relying party's `timeout` over the
  // whole of it: when it passes, the ceremony is cancelled (tunnel closed, scan and advert stopped)
  // and ends with session.deadline. No timeout (or 0): the per-stage deadlines alone.
  template <typename F>
  auto within(std::optional<std::chrono::milliseconds> timeout, F f) -> decltype(f()) {
    if (!timeout || timeout->count() <= 0) return f();
    auto timed_out = std::make_shared<bool>(false);
    net::steady_timer timer(runner.io(), *timeout);
    timer.async_wait([this, timed_out](const boost::system::error_code& ec) {
      if (ec) return;
      *timed_out = true;
      runner.cancel();
    });
    auto r = f();
    timer.cancel();
    if (*timed_out && !r)
      return make_error(Errc::session_deadline,
                        "the relying party's timeout of " + std::to_string(timeout->count()) + " ms passed");
    return r;
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

namespace {

// The Connection of with_connection() and connect(): blocking transact() over the open session.
class SessionConnection final : public Connection {
 public:
  SessionConnection(Desktop::Impl& impl, std::unique_ptr<OpenSession> s, bool owns_close)
      : impl_(impl), s_(std::move(s)), owns_close_(owns_close) {}
  ~SessionConnection() override {
    if (owns_close_) finish();
  }
  ByteView get_info() const override { return s_->connected.session->get_info(); }
  Result<Bytes> transact(ByteView request) override {
    auto r = impl_.transact(*s_, request);
    succeeded_ = succeeded_ || r.ok();
    if (owns_close_) impl_.runner.reset_cancel();  // a cancel ends this request, not the next one
    return r;
  }
  void finish() {
    if (!s_) return;
    impl_.close(*s_, succeeded_);
    impl_.runner.reset_cancel();
    impl_.connection_open = false;
    s_.reset();
  }

 private:
  Desktop::Impl& impl_;
  std::unique_ptr<OpenSession> s_;
  bool owns_close_;
  bool succeeded_ = false;
};

}  // namespace

Status Desktop::Impl::ceremony(qr_payload::RequestType hint, const DesktopCallbacks& cb, const std::string& phone,
                               const std::function<Status(Connection&)>& use) {
  if (connection_open) return make_error(Errc::invalid_argument, "a connection to a phone is open on this desktop");
  HG_TRY(auto s, open(hint, cb, phone));
  OpenSession& session = *s;
  SessionConnection conn(*this, std::move(s), false);
  Status st = use(conn);
  close(session, st.ok());
  return st;
}

Desktop::Desktop(DesktopConfig config) : impl_(std::make_unique<Impl>()) { impl_->config = std::move(config); }
Desktop::~Desktop() = default;

Result<nlohmann::json> Desktop::create(std::string_view options_json, std::string_view origin,
                                       const DesktopCallbacks& callbacks, const std::string& phone) {
  HG_TRY(auto options, webauthn::parse_creation_options(options_json));
  HG_TRY(auto prepared, webauthn::prepare(options, origin));
  auto response = impl_->within(options.timeout, [&] {
    return impl_->run_prepared(prepared, qr_payload::RequestType::make_credential, callbacks, phone);
  });
  impl_->runner.reset_cancel();
  if (!response) return response.error();
  return webauthn::registration_json(prepared, *response);
}

Result<nlohmann::json> Desktop::get(std::string_view options_json, std::string_view origin,
                                    const DesktopCallbacks& callbacks, const std::string& phone) {
  HG_TRY(auto options, webauthn::parse_request_options(options_json));
  HG_TRY(auto prepared, webauthn::prepare(options, origin));
  auto response = impl_->within(options.timeout, [&] {
    return impl_->run_prepared(prepared, qr_payload::RequestType::get_assertion, callbacks, phone);
  });
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

Result<std::unique_ptr<Connection>> Desktop::connect(qr_payload::RequestType hint, const DesktopCallbacks& callbacks,
                                                     const std::string& phone) {
  if (impl_->connection_open) return make_error(Errc::invalid_argument, "a connection to a phone is open on this desktop");
  auto s = impl_->open(hint, callbacks, phone);
  impl_->runner.reset_cancel();
  if (!s) return s.error();
  impl_->connection_open = true;
  return std::unique_ptr<Connection>(std::make_unique<SessionConnection>(*impl_, std::move(*s), true));
}

const DesktopConfig& Desktop::config() const { return impl_->config; }

Result<std::vector<RememberedPhone>> Desktop::phones() const {
  HG_TRY(auto path, impl_->links_path());
  HG_TRY(auto store, store::LinkStore::open(path));
  std::vector<RememberedPhone> out;
  for (const auto& l : store.links()) {
    auto h = crypto::sha256(l.link.contact_id);
    out.push_back({l.name, l.link.domain_id, l.tunnel_url, l.created, hex_encode(ByteView(h.data(), 4))});
  }
  return out;
}

Result<bool> Desktop::forget(const std::string& name) {
  HG_TRY(auto path, impl_->links_path());
  HG_TRY(auto store, store::LinkStore::open(path));
  return store.remove(name);
}

void Desktop::cancel() { impl_->runner.cancel(); }

}  // namespace hg::hybrid
