// SPDX-License-Identifier: Apache-2.0
#include "hybrid/contacts.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "hybrid/run.hpp"
#include "proto/domains.hpp"
#include "tunnel/client/websocket.hpp"

namespace hg::hybrid {

namespace net = boost::asio;

namespace {
tunnel::ConnectOptions listen_options(const std::string& url, const TunnelServer& server, const std::string& token_hex) {
  tunnel::ConnectOptions o;
  o.url = url;
  o.headers.emplace_back("X-Hybridgate-Contact-Token", token_hex);
  o.keepalive = std::chrono::seconds(30);
  o.ca_file = server.ca_file;
  return o;
}

net::awaitable<Result<std::unique_ptr<tunnel::WebSocket>>> open_listen(const TunnelServer& server,
                                                                      const std::string& token_hex,
                                                                      const std::optional<Bytes>& contact_id) {
  auto url = server.url_for(0, tunnel_domain::listen_path(contact_id));
  if (!url) co_return url.error();
  co_return co_await server.connect(listen_options(*url, server, token_hex));
}
}  // namespace

net::awaitable<Result<Bytes>> register_contact(const TunnelServer& server, const std::string& token_hex,
                                               const std::optional<Bytes>& contact_id) {
  auto conn = co_await open_listen(server, token_hex, contact_id);
  if (!conn) co_return conn.error();
  auto& ws = **conn;
  auto id_header = ws.handshake().header("x-hybridgate-contact-id");
  Bytes id;
  if (contact_id) {
    id = *contact_id;
  } else {
    if (!id_header) co_return make_error(Errc::tunnel_protocol, "the relay assigned no contact ID (X-Hybridgate-Contact-ID)");
    auto decoded = base64url_decode(*id_header);
    if (!decoded || decoded->empty() || decoded->size() > 256)
      co_return make_error(Errc::tunnel_protocol, "X-Hybridgate-Contact-ID is not base64url");
    id = std::move(decoded).value();
  }
  co_await ws.close(1000);
  co_return id;
}

net::awaitable<Status> revoke_contact(const TunnelServer& server, const std::string& token_hex, const Bytes& contact_id) {
  auto conn = co_await open_listen(server, token_hex, contact_id);
  if (!conn) {
    if (conn.error().code == Errc::tunnel_gone) co_return ok_status();  // already revoked
    co_return conn.error();
  }
  auto& ws = **conn;
  if (auto w = co_await ws.write_text(R"({"revoke": true})"); !w) co_return w.error();
  // The relay closes the listener once the contact is revoked.
  auto r = co_await with_deadline<tunnel::Message>(
      std::chrono::seconds(10), ws.read_any(), [&ws] { ws.cancel(); }, Errc::session_deadline,
      "waiting for the relay to confirm the revocation");
  if (r) co_return make_error(Errc::tunnel_protocol, "unexpected message after revoke");
  if (r.error().code != Errc::tunnel_closed) co_return r.error();
  co_return ok_status();
}

net::awaitable<Result<int>> listen_for_wakeups(const TunnelServer& server, const std::string& token_hex,
                                               const Bytes& contact_id, int max_wakeups,
                                               std::function<net::awaitable<Status>(const messages::WakeUp&)> on_wakeup,
                                               const Events& events) {
  auto conn = co_await open_listen(server, token_hex, contact_id);
  if (!conn) co_return conn.error();
  auto& ws = **conn;
  events.emit(Stage::listening);
  int served = 0;
  OnCancel on_cancel(co_await net::this_coro::executor, [&ws] { ws.cancel(); });
  while (max_wakeups == 0 || served < max_wakeups) {
    auto m = co_await ws.read_any();
    if (!m) co_return m.error();
    if (!m->text) continue;  // nothing binary is defined on this connection
    auto wake = messages::parse_wakeup(std::string_view(reinterpret_cast<const char*>(m->data.data()), m->data.size()));
    if (!wake) {
      events.emit(Stage::woken, std::string("ignored: ") + std::string(wake.error().name()));
      continue;
    }
    events.emit(Stage::woken, "hint " + wake->payload.hint);
    auto st = co_await on_wakeup(*wake);
    ++served;
    if (!st) events.emit(Stage::woken, "session failed: " + st.error().to_string());
  }
  co_await ws.close(1000);
  co_return served;
}

}  // namespace hg::hybrid
