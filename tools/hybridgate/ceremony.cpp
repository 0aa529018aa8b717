// SPDX-License-Identifier: Apache-2.0
// `hybridgate register`, `hybridgate sign-in` (desktop) and `hybridgate phone` (phone side).
#include <fcntl.h>
#include <unistd.h>

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ble/radio.hpp"
#include "commands.hpp"
#include "file_store.hpp"
#include "links.hpp"
#include <unistd.h>
#include "proto/authenticator.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"
#include "proto/prf.hpp"
#include "proto/qr_payload.hpp"
#include "qr/render.hpp"
#include "tunnel/client/session.hpp"
#include "hybrid/webauthn_json.hpp"

namespace hgcli {
namespace {

namespace net = boost::asio;
using nlohmann::json;
using namespace hg;
namespace webauthn_json = hg::hybrid::webauthn_json;

// ------------------------------------------------------------------ shared options

struct CommonOptions {
  std::string tunnel_url;  // every tunnel domain → this base URL (self-hosting, tests)
  std::string ca_file;
  std::string radio = "auto";
  std::string adapter;
  bool quiet = false;  // no progress lines on stderr
};

void add_common(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--tunnel-url", o.tunnel_url,
                  "Use this tunnel server for every domain, e.g. ws://127.0.0.1:8080 or wss://relay.example.org");
  cmd->add_option("--ca-file", o.ca_file, "Extra trusted CA certificate (PEM) for a wss:// tunnel server");
  cmd->add_option("--radio", o.radio, "Radio: auto (BlueZ if an adapter is usable, else loopback), bluez, loopback")
      ->check(CLI::IsMember({"auto", "bluez", "loopback"}));
  cmd->add_option("--adapter", o.adapter, "BlueZ adapter, e.g. hci0 (default: the first powered one)");
  cmd->add_flag("--quiet", o.quiet, "Do not print progress on stderr");
}

ble::RadioOptions radio_options(const CommonOptions& o) {
  ble::RadioOptions r;
  r.kind = o.radio == "bluez" ? ble::RadioKind::bluez : o.radio == "loopback" ? ble::RadioKind::loopback : ble::RadioKind::automatic;
  r.adapter = o.adapter;
  r.notice = [quiet = o.quiet](const std::string& s) {
    if (!quiet) std::cerr << "hybridgate: " << s << "\n";
  };
  return r;
}

tunnel::Events progress_events(const CommonOptions& o, const char* who) {
  tunnel::Events ev;
  if (!o.quiet) {
    ev.stage = [who](tunnel::Stage s, const std::string& detail) {
      std::cerr << "hybridgate " << who << ": " << tunnel::to_string(s);
      if (!detail.empty()) std::cerr << " (" << detail << ")";
      std::cerr << "\n";
    };
  }
  return ev;
}

// Runs a coroutine returning Result<T> to completion on a fresh io_context. SIGINT/SIGTERM
// cancel it by stopping the loop.
template <typename T>
net::awaitable<void> store_result(std::optional<Result<T>>* out, net::awaitable<Result<T>> task) {
  out->emplace(co_await std::move(task));
}

template <typename T>
Result<T> run_to_completion(net::io_context& io, net::awaitable<Result<T>> task) {
  std::optional<Result<T>> out;
  net::co_spawn(io, store_result(&out, std::move(task)), [&out](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      out.emplace(make_error(Errc::internal, ex.what()));
    }
  });
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const boost::system::error_code& ec, int) {
    if (!ec) io.stop();
  });
  while (!out && !io.stopped()) io.run_one();
  signals.cancel();
  if (!out) return make_error(Errc::session_cancelled);
  return std::move(*out);
}

bool write_file_atomically(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(data.data(), std::streamsize(data.size()));
    f.flush();
    if (!f) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// ------------------------------------------------------------------ desktop

struct DesktopOptions {
  CommonOptions common;
  std::string rp_id, origin, challenge_b64, user_name, display_name, user_id_b64;
  std::vector<std::string> allow;
  std::string qr_png, qr_url_file;
  bool no_terminal_qr = false;
  bool link_phone = false;   // offer linking in the QR code and remember the phone
  std::string links_file;    // default: default_links_path()
  std::string phone;         // sign in through this linked phone instead of a QR code
  bool no_resident_key = false;
  // prf (WebAuthn PRF extension): inputs as base64url, hashed into salts as browsers do.
  bool prf = false;                           // register: ask for prf ({"prf": {}})
  std::string prf_first_b64, prf_second_b64;  // eval
  std::vector<std::string> prf_by_credential;  // sign-in: CREDENTIAL_ID:FIRST[:SECOND]
  double advert_timeout = 120, response_timeout = 180, connect_timeout = 15, handshake_timeout = 15;
};

void add_desktop_options(CLI::App* cmd, DesktopOptions& o) {
  add_common(cmd, o.common);
  cmd->add_option("--rp-id", o.rp_id, "Relying party ID, e.g. example.com")->required();
  cmd->add_option("--origin", o.origin, "Origin for the client data, e.g. https://example.com")->required();
  cmd->add_option("--challenge", o.challenge_b64, "The RP's challenge, base64url (default: 32 random bytes)");
  cmd->add_option("--qr-png", o.qr_png, "Also write the QR code as a PNG file (for a GUI)");
  cmd->add_option("--qr-url-file", o.qr_url_file, "Write the FIDO:/ URL to this file (atomically)");
  cmd->add_flag("--no-terminal-qr", o.no_terminal_qr, "Do not draw the QR code on stderr");
  cmd->add_option("--advert-timeout", o.advert_timeout, "Seconds to wait for the phone's advert (default 120)");
  cmd->add_option("--connect-timeout", o.connect_timeout, "Seconds for connecting to the tunnel server (default 15)");
  cmd->add_option("--handshake-timeout", o.handshake_timeout, "Seconds for the secure-channel handshake (default 15)");
  cmd->add_option("--response-timeout", o.response_timeout,
                  "Seconds the person has to answer on the phone (default 180)");
  cmd->add_flag("--link-phone", o.link_phone,
                "Offer the phone to be remembered (QR key 4); a phone that agrees is stored in the links file");
  cmd->add_option("--links", o.links_file, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  cmd->add_option("--phone", o.phone, "Use this remembered phone (no QR code); see 'hybridgate links list'");
  cmd->add_option("--prf-first", o.prf_first_b64,
                  "WebAuthn PRF extension: evaluate the credential's PRF at this input (base64url, any length; "
                  "hashed into a salt as browsers do); the result is in clientExtensionResults.prf.results");
  cmd->add_option("--prf-second", o.prf_second_b64, "A second PRF input (with --prf-first)");
}

// The "prf" extension input of a request from the CLI options, or nullopt when none was asked.
// `allow_list` is the request's (decoded --allow; --prf-by-credential exists only on sign-in).
Result<std::optional<prf::Request>> prf_request(const DesktopOptions& o,
                                                const std::optional<std::vector<ctap::CredentialDescriptor>>& allow_list) {
  auto input = [](const std::string& first_b64, const std::string& second_b64) -> Result<prf::Input> {
    prf::Input in;
    auto first = base64url_decode(first_b64);
    if (!first) return make_error(Errc::invalid_argument, "PRF inputs must be base64url");
    in.first = prf::salt_for_input(*first);
    if (!second_b64.empty()) {
      auto second = base64url_decode(second_b64);
      if (!second) return make_error(Errc::invalid_argument, "PRF inputs must be base64url");
      in.second = prf::salt_for_input(*second);
    }
    return in;
  };
  if (!o.prf_second_b64.empty() && o.prf_first_b64.empty())
    return make_error(Errc::invalid_argument, "--prf-second needs --prf-first");
  if (!o.prf && o.prf_first_b64.empty() && o.prf_by_credential.empty()) return std::optional<prf::Request>{};
  prf::Request r;
  if (!o.prf_first_b64.empty()) {
    HG_TRY(auto in, input(o.prf_first_b64, o.prf_second_b64));
    r.eval = in;
  }
  for (const auto& spec : o.prf_by_credential) {
    // CREDENTIAL_ID:FIRST[:SECOND], all base64url (which has no ':').
    const auto c1 = spec.find(':');
    const auto c2 = c1 == std::string::npos ? std::string::npos : spec.find(':', c1 + 1);
    auto id = base64url_decode(spec.substr(0, c1));
    if (c1 == std::string::npos || !id || id->empty())
      return make_error(Errc::invalid_argument, "--prf-by-credential takes CREDENTIAL_ID:FIRST[:SECOND] (base64url)");
    HG_TRY(auto in, input(spec.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1),
                          c2 == std::string::npos ? std::string() : spec.substr(c2 + 1)));
    const bool allowed = allow_list && std::ranges::any_of(*allow_list, [&](const ctap::CredentialDescriptor& d) {
      return d.id == *id;
    });
    if (!allowed)  // WebAuthn: evalByCredential keys must be in allowCredentials
      return make_error(Errc::invalid_argument, "--prf-by-credential names a credential that is not in --allow");
    r.eval_by_credential.emplace_back(*id, in);
  }
  return std::optional<prf::Request>(std::move(r));
}

cbor::Map prf_extensions(const prf::Request& r) {
  cbor::Map ext;
  ext.set("prf", cbor::Value(prf::to_cbor(r)));
  return ext;
}

// The request for the phone at hand: the prf extension only if its getInfo lists it, as browsers
// do (without it, clientExtensionResults.prf reports enabled false / no results).
template <typename Request>
tunnel::RequestBuilder request_for_phone(Request req, std::optional<prf::Request> prf_req, bool quiet) {
  return [req = std::move(req), prf_req = std::move(prf_req), quiet](ByteView get_info) mutable -> Result<Bytes> {
    if (prf_req) {
      auto info = ctap::decode_get_info(get_info);
      if (info && info->lists_extension("prf")) {
        req.extensions = prf_extensions(*prf_req);
      } else if (!quiet) {
        std::cerr << "hybridgate desktop: the phone does not offer the PRF extension; asking without it\n";
      }
    }
    return ctap::encode_request(req);
  };
}

Result<std::filesystem::path> links_path(const std::string& configured) {
  if (!configured.empty()) return std::filesystem::path(configured);
  return tools::default_links_path();
}

std::chrono::milliseconds secs(double s) { return std::chrono::milliseconds(int64_t(s * 1000)); }

int fail(const Error& e) {
  std::cerr << "hybridgate: " << e.sentence();
  if (!e.detail.empty()) std::cerr << " (" << e.detail << ")";
  std::cerr << " [" << e.name() << "]\n";
  return print_error(e);
}

Result<Bytes> challenge_bytes(const std::string& b64) {
  if (b64.empty()) return crypto::random_bytes(32);
  auto c = base64url_decode(b64);
  if (!c || c->size() < 16 || c->size() > 1024)
    return make_error(Errc::invalid_argument, "--challenge must be 16 to 1024 bytes of base64url");
  return c;
}

// Shows the QR code and runs the desktop session. Returns the CTAP response.
tunnel::DesktopDeadlines desktop_deadlines(const DesktopOptions& o) {
  tunnel::DesktopDeadlines d;
  d.advert = secs(o.advert_timeout);
  d.connect = secs(o.connect_timeout);
  d.handshake = secs(o.handshake_timeout);
  d.response = secs(o.response_timeout);
  return d;
}

// A sign-in (or registration) through a remembered phone: no QR code.
Result<tunnel::DesktopResult> linked_ceremony(const DesktopOptions& o, qr_payload::RequestType type,
                                              tunnel::RequestBuilder request) {
  HG_TRY(auto path, links_path(o.links_file));
  HG_TRY(auto store, tools::LinkStore::open(path));
  const tools::StoredLink* stored = store.find(o.phone);
  if (!stored) return make_error(Errc::invalid_argument, "no linked phone named '" + o.phone + "' (see: hybridgate links list)");
  net::io_context io;
  auto scanner = ble::make_scanner(io, radio_options(o.common));
  if (!scanner) return scanner.error();
  tunnel::TunnelServer server{o.common.tunnel_url.empty() ? stored->tunnel_url : o.common.tunnel_url, o.common.ca_file};
  if (!o.common.quiet) std::cerr << "hybridgate desktop: asking phone '" << o.phone << "' (no QR code)\n";
  auto events = progress_events(o.common, "desktop");
  auto r = run_to_completion(io, tunnel::run_desktop_linked(**scanner, stored->link, type, std::move(request), server,
                                                            desktop_deadlines(o), events));
  if (!r && r.error().code == Errc::tunnel_gone) {
    (void)store.remove(o.phone);
    return make_error(Errc::tunnel_gone, "forgot '" + o.phone + "'; sign in with a QR code to link it again");
  }
  return r;
}

// Stores verified linking info from a QR ceremony.
void remember_phone(const DesktopOptions& o, const tunnel::DesktopResult& r) {
  if (r.linking_rejected)
    std::cerr << "hybridgate: the phone offered to be remembered, but its linking information has an invalid "
                 "signature; it was not stored [linking.signature]\n";
  if (!r.linking) return;
  auto path = links_path(o.links_file);
  if (!path) {
    std::cerr << "hybridgate: cannot remember the phone: " << path.error().to_string() << "\n";
    return;
  }
  auto store = tools::LinkStore::open(*path);
  if (!store) {
    std::cerr << "hybridgate: cannot remember the phone: " << store.error().to_string() << "\n";
    return;
  }
  tools::StoredLink l;
  l.name = r.linking->name.empty() ? "phone" : r.linking->name;
  l.link.contact_id = r.linking->contact_id;
  l.link.pairing_id = r.linking->pairing_id;
  l.link.link_secret = r.linking->link_secret;
  l.link.phone_public_key = r.linking->identity_public_key;
  l.link.domain_id = r.domain_id;
  l.tunnel_url = o.common.tunnel_url;
  l.created = uint64_t(std::time(nullptr));
  if (auto st = store->add(std::move(l)); !st) {
    std::cerr << "hybridgate: cannot remember the phone: " << st.error().to_string() << "\n";
    return;
  }
  std::cerr << "hybridgate: remembered phone '" << r.linking->name << "'; next time: hybridgate sign-in --phone '"
            << r.linking->name << "'\n";
}

Result<tunnel::DesktopResult> desktop_ceremony(const DesktopOptions& o, qr_payload::RequestType type,
                                               tunnel::RequestBuilder request) {
  if (!o.phone.empty()) return linked_ceremony(o, type, std::move(request));
  net::io_context io;
  auto scanner = ble::make_scanner(io, radio_options(o.common));
  if (!scanner) return scanner.error();
  auto qr = qr_payload::generate({.request_type = type,
                                  .supports_linking = o.link_phone,
                                  .known_domains = 2,
                                  .timestamp = uint64_t(std::time(nullptr))});
  if (!o.qr_url_file.empty() && !write_file_atomically(o.qr_url_file, qr.url))
    return make_error(Errc::io, "cannot write " + o.qr_url_file);
  auto matrix = hg::qr::encode(qr.url);
  if (!matrix) return matrix.error();
  if (!o.qr_png.empty()) {
    auto png = hg::qr::to_png(*matrix);
    if (!png || !write_file_atomically(o.qr_png, std::string_view(reinterpret_cast<const char*>(png->data()), png->size())))
      return make_error(Errc::io, "cannot write " + o.qr_png);
  }
  if (!o.no_terminal_qr) {
    std::cerr << hg::qr::to_terminal(*matrix);
    std::cerr << "Scan this QR code with your phone's camera (\"use a phone or tablet\").\n";
  }
  tunnel::TunnelServer server{o.common.tunnel_url, o.common.ca_file};
  auto events = progress_events(o.common, "desktop");
  auto r = run_to_completion(io, tunnel::run_desktop_qr(**scanner, qr, std::move(request), server, desktop_deadlines(o), events));
  if (r) {
    if (!o.common.quiet)
      std::cerr << "hybridgate desktop: phone found → result in " << r->found_to_result.count() << " ms\n";
    remember_phone(o, *r);
  }
  return r;
}

int do_register(const DesktopOptions& o) {
  auto challenge = challenge_bytes(o.challenge_b64);
  if (!challenge) return fail(challenge.error());
  Bytes user_id;
  if (o.user_id_b64.empty()) {
    user_id = crypto::random_bytes(16);
  } else {
    auto u = base64url_decode(o.user_id_b64);
    if (!u || u->empty() || u->size() > 64) return fail(make_error(Errc::invalid_argument, "--user-id must be 1 to 64 bytes of base64url"));
    user_id = *u;
  }
  const std::string client_data = ctap::client_data_json("webauthn.create", *challenge, o.origin);
  ctap::MakeCredentialRequest req;
  req.client_data_hash = crypto::sha256(as_bytes(client_data));
  req.rp = {o.rp_id, o.rp_id};
  req.user = {user_id, o.user_name, o.display_name.empty() ? o.user_name : o.display_name};
  req.pub_key_cred_params = {{std::string(ctap::kPublicKeyType), ctap::cose::alg_es256},
                             {std::string(ctap::kPublicKeyType), ctap::cose::alg_rs256}};
  if (!o.no_resident_key) req.options.rk = true;
  auto prf_req = prf_request(o, std::nullopt);
  if (!prf_req) return fail(prf_req.error());
  const bool prf_wanted = prf_req->has_value();
  auto result = desktop_ceremony(o, qr_payload::RequestType::make_credential,
                                 request_for_phone(req, std::move(*prf_req), o.common.quiet));
  if (!result) return fail(result.error());
  auto resp = ctap::decode_make_credential_response(result->ctap_response);
  if (!resp) return fail(resp.error());
  auto cred = webauthn_json::registration(*resp, client_data, prf_wanted);
  if (!cred) return fail(cred.error());
  print_json(*cred);
  return 0;
}

int do_sign_in(const DesktopOptions& o) {
  auto challenge = challenge_bytes(o.challenge_b64);
  if (!challenge) return fail(challenge.error());
  const std::string client_data = ctap::client_data_json("webauthn.get", *challenge, o.origin);
  ctap::GetAssertionRequest req;
  req.rp_id = o.rp_id;
  req.client_data_hash = crypto::sha256(as_bytes(client_data));
  if (!o.allow.empty()) {
    req.allow_list.emplace();
    for (const auto& a : o.allow) {
      auto id = base64url_decode(a);
      if (!id || id->empty()) return fail(make_error(Errc::invalid_argument, "--allow takes base64url credential IDs"));
      req.allow_list->push_back({std::string(ctap::kPublicKeyType), *id, std::nullopt});
    }
  }
  auto prf_req = prf_request(o, req.allow_list);
  if (!prf_req) return fail(prf_req.error());
  const bool prf_wanted = prf_req->has_value();
  auto result = desktop_ceremony(o, qr_payload::RequestType::get_assertion,
                                 request_for_phone(req, std::move(*prf_req), o.common.quiet));
  if (!result) return fail(result.error());
  auto resp = ctap::decode_get_assertion_response(result->ctap_response);
  if (!resp) return fail(resp.error());
  auto cred = webauthn_json::assertion(*resp, client_data, req.allow_list, prf_wanted);
  if (!cred) return fail(cred.error());
  print_json(*cred);
  return 0;
}

// ------------------------------------------------------------------ phone

struct PhoneCliOptions {
  CommonOptions common;
  std::string qr, qr_file, store;
  bool yes = false;
  bool link = false, listen = false, once = false, unlink = false, forge_link_signature = false;
  std::string link_state, phone_name;
  int domain_id = 0;
  std::string attestation = "none";
  bool no_prf = false;
  double desktop_timeout = 120;
};

// Asks the person on the terminal; --yes answers for them.
class PromptPresence final : public authenticator::UserPresence {
 public:
  explicit PromptPresence(bool yes) : yes_(yes) {}
  bool confirm(const std::string& rp_id, const std::string& user_name, authenticator::Operation op) override {
    const char* what = op == authenticator::Operation::make_credential ? "create a passkey" : "sign in";
    if (yes_) {
      std::cerr << "hybridgate phone: approving (--yes): " << what << " for " << rp_id
                << (user_name.empty() ? "" : " as " + user_name) << "\n";
      return true;
    }
    std::cerr << "hybridgate phone: " << rp_id << " asks to " << what << (user_name.empty() ? "" : " as " + user_name)
              << ". Allow? [y/N] " << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer)) return false;
    return answer == "y" || answer == "Y" || answer == "yes";
  }

 private:
  bool yes_;
};

class AuthenticatorAdapter final : public tunnel::Authenticator {
 public:
  explicit AuthenticatorAdapter(authenticator::SoftwareAuthenticator& a) : a_(a) {}
  Bytes get_info() override { return a_.get_info_cbor(); }
  Bytes handle(ByteView request) override { return a_.handle(request); }

 private:
  authenticator::SoftwareAuthenticator& a_;
};

std::filesystem::path link_state_path(const PhoneCliOptions& o) {
  return o.link_state.empty() ? std::filesystem::path(o.store + ".link") : std::filesystem::path(o.link_state);
}

std::string default_phone_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || !host[0]) return "hybridgate phone";
  return std::string("hybridgate on ") + host;
}

// Makes sure the phone has a contact ID at the relay (registering one if needed) and returns the state.
Result<tools::PhoneLinkState> ensure_contact(net::io_context& io, const PhoneCliOptions& o) {
  HG_TRY(auto state, tools::load_phone_state(link_state_path(o)));
  if (o.common.tunnel_url.empty() && state.tunnel_url.empty())
    return make_error(Errc::invalid_argument, "linking needs the relay that will wake this phone: give --tunnel-url");
  const std::string url = o.common.tunnel_url.empty() ? state.tunnel_url : o.common.tunnel_url;
  if (!state.contact_id || state.tunnel_url != url) {
    tunnel::TunnelServer server{url, o.common.ca_file};
    HG_TRY(Bytes id, run_to_completion(io, tunnel::register_contact(server, state.token_hex, std::nullopt)));
    state.contact_id = id;
    state.tunnel_url = url;
    HG_CHECK(tools::save_phone_state(link_state_path(o), state));
  }
  return state;
}

int do_phone(const PhoneCliOptions& o) {
  auto store = tools::FileCredentialStore::open(o.store);
  if (!store) return fail(store.error());
  PromptPresence presence(o.yes);
  authenticator::Config cfg;
  cfg.attestation = o.attestation == "packed" ? authenticator::AttestationFormat::packed_self : authenticator::AttestationFormat::none;
  cfg.now = [] { return uint64_t(std::time(nullptr)); };
  cfg.prf = !o.no_prf;
  authenticator::SoftwareAuthenticator authn(**store, presence, cfg);
  AuthenticatorAdapter adapter(authn);

  net::io_context io;
  tunnel::PhoneOptions popts;
  popts.server = {o.common.tunnel_url, o.common.ca_file};
  popts.domain_id = uint16_t(o.domain_id);
  popts.desktop = secs(o.desktop_timeout);
  auto events = progress_events(o.common, "phone");

  if (o.unlink) {
    auto state = tools::load_phone_state(link_state_path(o));
    if (!state) return fail(state.error());
    if (!state->contact_id) return fail(make_error(Errc::invalid_argument, "this phone is not linked"));
    tunnel::TunnelServer server{o.common.tunnel_url.empty() ? state->tunnel_url : o.common.tunnel_url, o.common.ca_file};
    auto st = run_to_completion(io, [&]() -> net::awaitable<Result<Unit>> {
      co_return co_await tunnel::revoke_contact(server, state->token_hex, *state->contact_id);
    }());
    if (!st) return fail(st.error());
    // A new contact ID (and token) next time: every desktop's link to the old one is dead.
    state->contact_id.reset();
    state->token_hex = hex_encode(crypto::random_bytes(32));
    if (auto sv = tools::save_phone_state(link_state_path(o), *state); !sv) return fail(sv.error());
    print_json({{"unlinked", true}});
    return 0;
  }

  auto advertiser = ble::make_advertiser(io, radio_options(o.common));
  if (!advertiser) return fail(advertiser.error());

  if (o.listen) {
    auto state = ensure_contact(io, o);
    if (!state) return fail(state.error());
    tunnel::TunnelServer server{state->tunnel_url, o.common.ca_file};
    popts.server = server;
    tunnel::LinkedPhone me{state->root_secret, *state->contact_id};
    int served = 0, failed = 0;
    auto handler = [&](const tunnel::WakeUp& wake) -> net::awaitable<Status> {
      auto r = co_await tunnel::run_phone_linked(**advertiser, wake, me, adapter, popts, events);
      if (r) {
        served += r->requests_served;
        co_return ok_status();
      }
      ++failed;
      std::cerr << "hybridgate phone: linked session failed: " << r.error().to_string() << "\n";
      co_return r.error();
    };
    if (!o.common.quiet) std::cerr << "hybridgate phone: listening for linked desktops at " << server.override_url << "\n";
    auto r = run_to_completion(io, tunnel::listen_for_wakeups(server, state->token_hex, *state->contact_id,
                                                              o.once ? 1 : 0, handler, events));
    if (!r) return fail(r.error());
    if (failed > 0 && o.once) return fail(make_error(Errc::session_handshake, "the linked session failed"));
    print_json({{"wakeups", *r}, {"requests_served", served}});
    return 0;
  }

  std::string url = o.qr;
  if (!o.qr_file.empty()) {
    std::ifstream f(o.qr_file);
    if (!f) return fail(make_error(Errc::io, "cannot read " + o.qr_file));
    std::getline(f, url);
  }
  while (!url.empty() && (url.back() == '\n' || url.back() == '\r' || url.back() == ' ')) url.pop_back();
  auto qr = qr_payload::parse_url(url);
  if (!qr) return fail(qr.error());
  if (o.link && qr->supports_linking.value_or(false)) {
    auto state = ensure_contact(io, o);
    if (!state) return fail(state.error());
    popts.link = tunnel::LinkOffer{state->root_secret, *state->contact_id,
                                   o.phone_name.empty() ? default_phone_name() : o.phone_name, o.forge_link_signature};
  } else if (o.link && !o.common.quiet) {
    std::cerr << "hybridgate phone: this QR code does not offer linking; not linking\n";
  }
  auto r = run_to_completion(io, tunnel::run_phone_qr(**advertiser, *qr, adapter, popts, events));
  if (!r) return fail(r.error());
  print_json({{"requests_served", r->requests_served}, {"shutdown_received", r->shutdown_received}, {"linked", popts.link.has_value()}});
  return 0;
}

int do_links(const std::string& file, const std::string& remove) {
  auto path = links_path(file);
  if (!path) return fail(path.error());
  auto store = tools::LinkStore::open(*path);
  if (!store) return fail(store.error());
  if (!remove.empty()) {
    auto r = store->remove(remove);
    if (!r) return fail(r.error());
    if (!*r) return fail(make_error(Errc::invalid_argument, "no linked phone named '" + remove + "'"));
    print_json({{"removed", remove}});
    return 0;
  }
  json arr = json::array();
  for (const auto& l : store->links()) {
    auto h = crypto::sha256(l.link.contact_id);
    arr.push_back({{"name", l.name},
                   {"domain_id", l.link.domain_id},
                   {"tunnel_url", l.tunnel_url},
                   {"created", l.created},
                   {"contact", hex_encode(ByteView(h.data(), 4))}});
  }
  print_json({{"links", arr}});
  return 0;
}

}  // namespace

void add_ceremonies(CLI::App& app, int& exit_code) {
  auto reg = std::make_shared<DesktopOptions>();
  auto* r = app.add_subcommand("register", "Create a passkey on a phone: show a QR code, print the PublicKeyCredential JSON");
  add_desktop_options(r, *reg);
  r->add_option("--user-name", reg->user_name, "User name, e.g. alice@example.com")->required();
  r->add_option("--display-name", reg->display_name, "Display name (default: the user name)");
  r->add_option("--user-id", reg->user_id_b64, "User handle, base64url (default: 16 random bytes)");
  r->add_flag("--no-resident-key", reg->no_resident_key, "Ask for a non-discoverable credential");
  r->add_flag("--prf", reg->prf,
              "Ask for the WebAuthn PRF extension (clientExtensionResults.prf.enabled says if the phone has it)");
  r->callback([&exit_code, reg] { exit_code = do_register(*reg); });

  auto sign = std::make_shared<DesktopOptions>();
  auto* s = app.add_subcommand("sign-in", "Sign in with a passkey on a phone: show a QR code, print the assertion JSON");
  add_desktop_options(s, *sign);
  s->add_option("--allow", sign->allow, "Allowed credential ID, base64url (repeatable; default: any discoverable)");
  s->add_option("--prf-by-credential", sign->prf_by_credential,
                "PRF inputs for one allowed credential: CREDENTIAL_ID:FIRST[:SECOND], base64url (repeatable; "
                "overrides --prf-first for that credential)");
  s->callback([&exit_code, sign] { exit_code = do_sign_in(*sign); });

  auto ph = std::make_shared<PhoneCliOptions>();
  auto* p = app.add_subcommand("phone", "Act as the phone: read a QR code, advertise, answer with a software authenticator");
  add_common(p, ph->common);
  auto* q1 = p->add_option("--qr", ph->qr, "The FIDO:/… URL");
  auto* q2 = p->add_option("--qr-file", ph->qr_file, "A file holding the FIDO:/… URL");
  q1->excludes(q2);
  p->add_option("--store", ph->store, "Credential store file (created with mode 0600)")->required();
  p->add_flag("--yes", ph->yes, "Approve every request without asking");
  p->add_option("--domain-id", ph->domain_id, "Tunnel domain ID to put in the advert (default 0, cable.ua5v.com)")
      ->check(CLI::Range(0, 65535));
  p->add_flag("--no-prf", ph->no_prf, "Do not offer the WebAuthn PRF extension (act like a phone without it)");
  p->add_option("--attestation", ph->attestation, "none (default) or packed (self attestation)")
      ->check(CLI::IsMember({"none", "packed"}));
  p->add_option("--desktop-timeout", ph->desktop_timeout, "Seconds to wait for the desktop after advertising (default 120)");
  p->add_flag("--link", ph->link, "Agree to be remembered by the desktop when its QR code offers it (needs --tunnel-url)");
  p->add_option("--link-state", ph->link_state, "Phone link state file (root secret, contact; default: STORE.link)");
  p->add_option("--phone-name", ph->phone_name, "Name shown to linked desktops (default: hybridgate on HOSTNAME)");
  auto* l = p->add_flag("--listen", ph->listen, "Serve linked desktops: wait for wake-ups from the relay (no QR code)");
  p->add_flag("--once", ph->once, "With --listen: return after one wake-up");
  auto* u = p->add_flag("--unlink", ph->unlink, "Revoke this phone's contact at the relay: every desktop link dies (410)");
  p->add_flag("--testing-forge-link-signature", ph->forge_link_signature,
              "Testing aid: send linking info with a wrong signature (a correct desktop must refuse it)")
      ->group("");
  l->excludes(u);
  q1->excludes(l)->excludes(u);
  q2->excludes(l)->excludes(u);
  p->callback([&exit_code, ph, q1, q2, l, u] {
    if (q1->count() == 0 && q2->count() == 0 && l->count() == 0 && u->count() == 0) {
      exit_code = fail(make_error(Errc::invalid_argument, "give --qr, --qr-file, --listen or --unlink"));
      return;
    }
    exit_code = do_phone(*ph);
  });

  auto lk = std::make_shared<std::pair<std::string, std::string>>();
  auto* links = app.add_subcommand("links", "Phones this desktop remembers (linked with register/sign-in --link-phone)");
  links->require_subcommand(1);
  auto* list = links->add_subcommand("list", "List remembered phones (JSON)");
  list->add_option("--links", lk->first, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  list->callback([&exit_code, lk] { exit_code = do_links(lk->first, ""); });
  auto* rm = links->add_subcommand("remove", "Forget a remembered phone");
  rm->add_option("name", lk->second, "The phone's name")->required();
  rm->add_option("--links", lk->first, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  rm->callback([&exit_code, lk] { exit_code = do_links(lk->first, lk->second); });
}

}  // namespace hgcli
