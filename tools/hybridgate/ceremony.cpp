// SPDX-License-Identifier: Apache-2.0
// `hybridgate register`, `sign-in` (desktop), `phone` and `links`: options → hybrid/ façade → print.
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "commands.hpp"
#include "store/credential_store.hpp"
#include "hybrid/desktop.hpp"
#include "hybrid/phone.hpp"
#include "store/private_file.hpp"
#if HG_HAVE_TPM
#include "store/tpm_seal.hpp"
#endif
#include "hybrid/settings.hpp"
#include "interrupt.hpp"
#include "key_window.hpp"
#include "pin_input.hpp"
#include "proto/authenticator.hpp"
#include "proto/crypto.hpp"
#include "qr/render.hpp"

namespace hgcli {
namespace {

using nlohmann::json;
using namespace hg;

// ------------------------------------------------------------------ shared options

struct CommonOptions {
  std::string tunnel_url;  // every tunnel domain → this base URL (self-hosting, tests)
  std::string ca_file;
  std::string radio;  // "" = the configuration's (desktop) or auto (phone)
  std::string adapter;
  std::string loopback_dir;
  bool quiet = false;  // no progress lines on stderr
};

void add_common(CLI::App* cmd, CommonOptions& o) {
  cmd->add_option("--tunnel-url", o.tunnel_url,
                  "Use this tunnel server for every domain, e.g. ws://127.0.0.1:8080 or wss://relay.example.org")->check(tunnel_url_check());
  cmd->add_option("--ca-file", o.ca_file, "Extra trusted CA certificate (PEM) for a wss:// tunnel server")->check(ca_file_check());
  cmd->add_option("--radio", o.radio, "Radio: auto (BlueZ if an adapter is usable, else loopback), bluez, loopback")
      ->check(CLI::IsMember({"auto", "bluez", "loopback"}));
  cmd->add_option("--adapter", o.adapter, "BlueZ adapter, e.g. hci0 (default: the first powered one)");
  cmd->add_option("--loopback-dir", o.loopback_dir, "The loopback radio's folder (default: $XDG_RUNTIME_DIR/hybridgate-radio)");
  cmd->add_flag("--quiet", o.quiet, "Do not print progress on stderr");
}

ble::RadioOptions radio_options(const CommonOptions& o) {
  ble::RadioOptions r;
  r.kind = o.radio == "bluez" ? ble::RadioKind::bluez : o.radio == "loopback" ? ble::RadioKind::loopback : ble::RadioKind::automatic;
  r.adapter = o.adapter;
  r.loopback_dir = o.loopback_dir;
  r.notice = [quiet = o.quiet](const std::string& s) {
    if (!quiet) std::cerr << "hybridgate: " << s << "\n";
  };
  return r;
}

std::function<void(hybrid::Stage, const std::string&)> progress(const CommonOptions& o, const char* who) {
  if (o.quiet) return {};
  return [who](hybrid::Stage s, const std::string& detail) {
    std::cerr << "hybridgate " << who << ": " << hybrid::to_string(s);
    if (!detail.empty()) std::cerr << " (" << detail << ")";
    std::cerr << "\n";
  };
}

std::chrono::milliseconds secs(double s) { return std::chrono::milliseconds(int64_t(s * 1000)); }

// Reads a whole file, or standard input for "-", bounded.
Result<std::string> read_input(const std::string& path, size_t max_size, const char* what) {
  std::string text;
  auto read_all = [&](std::istream& in) {  // at most max_size + 1 bytes: "too large" beyond
    char buf[4096];
    while (in && text.size() <= max_size) {
      in.read(buf, std::streamsize(std::min(sizeof buf, max_size + 1 - text.size())));
      text.append(buf, size_t(in.gcount()));
    }
  };
  if (path == "-") {
    read_all(std::cin);
  } else {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      return make_error(Errc::io, std::string(what) + " " + path + " is not a regular file");
    if (std::filesystem::file_size(path, ec) > max_size) return make_error(Errc::io, std::string(what) + " is too large");
    std::ifstream f(path, std::ios::binary);
    if (!f) return make_error(Errc::io, "cannot read " + path);
    read_all(f);
  }
  if (text.size() > max_size) return make_error(Errc::io, std::string(what) + " is too large");
  return text;
}

// ------------------------------------------------------------------ desktop

struct DesktopOptions {
  CommonOptions common;
  std::string options_json;  // FILE or "-": WebAuthn options JSON instead of the shortcuts below
  std::string rp_id, origin, challenge_b64, user_name, display_name, user_id_b64;
  std::vector<std::string> allow;
  std::string qr_png, qr_url_file;
  bool no_terminal_qr = false;
  bool dark_on_light = false;  // terminal QR for light terminals
  bool print_qr_url = false;   // the FIDO:/ URL on stderr too
  bool link_phone = false;   // offer linking in the QR code and remember the phone
  std::string links_file;    // default: $XDG_DATA_HOME/hybridgate/links.json
  std::string phone;         // sign in through this linked phone instead of a QR code
  bool no_resident_key = false;
  bool prf = false;                           // register: ask for prf ({"prf": {}})
  std::string prf_first_b64, prf_second_b64;  // eval
  std::vector<std::string> prf_by_credential;  // sign-in: CREDENTIAL_ID:FIRST[:SECOND]
  // Seconds; 0 = the configuration's (defaults 120, 180, 15, 15).
  double advert_timeout = 0, response_timeout = 0, connect_timeout = 0, handshake_timeout = 0;
};

void add_desktop_options(CLI::App* cmd, DesktopOptions& o) {
  add_common(cmd, o.common);
  cmd->add_option("--origin", o.origin, "Origin for the client data, e.g. https://example.com")->required();
  auto* oj = cmd->add_option("--options-json", o.options_json,
                             "WebAuthn options JSON (PublicKeyCredentialCreationOptionsJSON for register, "
                             "...RequestOptionsJSON for sign-in) from FILE, or - for standard input");
  auto* rp = cmd->add_option("--rp-id", o.rp_id, "Relying party ID, e.g. example.com (shortcut: without --options-json)");
  auto* ch = cmd->add_option("--challenge", o.challenge_b64, "The RP's challenge, base64url (default: 32 random bytes)");
  cmd->add_option("--qr-png", o.qr_png, "Also write the QR code as a PNG file (mode 0600; for a GUI)");
  cmd->add_option("--qr-url-file", o.qr_url_file, "Write the FIDO:/ URL to this file (mode 0600, atomically)")->check(qr_url_file_check());
  cmd->add_flag("--no-terminal-qr", o.no_terminal_qr,
                "Do not draw the QR code on stderr; show it in the security key's window when `hybridgate key` runs");
  cmd->add_flag("--dark-on-light", o.dark_on_light,
                "Draw the terminal QR code dark on light (for terminals with a light background)");
  cmd->add_flag("--print-qr-url", o.print_qr_url,
                "Also print the FIDO:/ URL on stderr (it holds the ceremony's secret: not for logs)");
  cmd->add_option("--advert-timeout", o.advert_timeout, "Seconds to wait for the phone's advert (default 120)")->check(CLI::PositiveNumber);
  cmd->add_option("--connect-timeout", o.connect_timeout, "Seconds for connecting to the tunnel server (default 15)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--handshake-timeout", o.handshake_timeout, "Seconds for the secure-channel handshake (default 15)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--response-timeout", o.response_timeout,
                  "Seconds the person has to answer on the phone (default 180)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--link-phone", o.link_phone,
                "Offer the phone to be remembered (QR key 4); a phone that agrees is stored in the links file");
  cmd->add_option("--links-file,--links", o.links_file, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  cmd->add_option("--phone", o.phone, "Use this remembered phone (no QR code); see 'hybridgate links list'");
  auto* p1 = cmd->add_option("--prf-first", o.prf_first_b64,
                             "WebAuthn PRF extension: evaluate the credential's PRF at this input (base64url, any "
                             "length; hashed into a salt as browsers do); the result is in "
                             "clientExtensionResults.prf.results");
  auto* p2 = cmd->add_option("--prf-second", o.prf_second_b64, "A second PRF input (with --prf-first)");
  for (auto* shortcut : {rp, ch, p1, p2}) oj->excludes(shortcut);
}

// The prf extension input as WebAuthn JSON ({"eval": {...}, "evalByCredential": {...}}), or null.
Result<json> prf_json(const DesktopOptions& o) {
  auto b64 = [](const std::string& s) -> Status {
    if (!base64url_decode(s)) return make_error(Errc::invalid_argument, "PRF inputs must be base64url");
    return ok_status();
  };
  if (!o.prf_second_b64.empty() && o.prf_first_b64.empty())
    return make_error(Errc::invalid_argument, "--prf-second needs --prf-first");
  if (!o.prf && o.prf_first_b64.empty() && o.prf_by_credential.empty()) return json(nullptr);
  json prf = json::object();
  if (!o.prf_first_b64.empty()) {
    HG_CHECK(b64(o.prf_first_b64));
    prf["eval"] = {{"first", o.prf_first_b64}};
    if (!o.prf_second_b64.empty()) {
      HG_CHECK(b64(o.prf_second_b64));
      prf["eval"]["second"] = o.prf_second_b64;
    }
  }
  for (const auto& spec : o.prf_by_credential) {
    // CREDENTIAL_ID:FIRST[:SECOND], all base64url (which has no ':').
    const auto c1 = spec.find(':');
    const auto c2 = c1 == std::string::npos ? std::string::npos : spec.find(':', c1 + 1);
    auto id = base64url_decode(spec.substr(0, c1));
    if (c1 == std::string::npos || !id || id->empty())
      return make_error(Errc::invalid_argument, "--prf-by-credential takes CREDENTIAL_ID:FIRST[:SECOND] (base64url)");
    const std::string first = spec.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1);
    const std::string second = c2 == std::string::npos ? std::string() : spec.substr(c2 + 1);
    HG_CHECK(b64(first));
    if (!second.empty()) HG_CHECK(b64(second));
    const bool allowed = std::ranges::any_of(o.allow, [&](const std::string& a) {
      auto d = base64url_decode(a);
      return d && *d == *id;
    });
    if (!allowed)  // WebAuthn: evalByCredential keys must be in allowCredentials
      return make_error(Errc::invalid_argument, "--prf-by-credential names a credential that is not in --allow");
    json values = {{"first", first}};
    if (!second.empty()) values["second"] = second;
    prf["evalByCredential"][base64url_encode(*id)] = values;
  }
  return prf;
}

Result<std::string> challenge_b64(const DesktopOptions& o) {
  if (o.challenge_b64.empty()) return base64url_encode(crypto::random_bytes(32));
  auto c = base64url_decode(o.challenge_b64);
  if (!c || c->size() < 16 || c->size() > 1024)
    return make_error(Errc::invalid_argument, "--challenge must be 16 to 1024 bytes of base64url");
  return o.challenge_b64;
}

// The WebAuthn options JSON: from --options-json, or built from the shortcut flags.
Result<std::string> options_text(const DesktopOptions& o, bool registration) {
  if (!o.options_json.empty()) return read_input(o.options_json, 1 << 20, "the options JSON");
  if (o.rp_id.empty()) return make_error(Errc::invalid_argument, "give --rp-id (or --options-json)");
  HG_TRY(std::string challenge, challenge_b64(o));
  HG_TRY(json prf, prf_json(o));
  json j = {{"challenge", challenge}};
  if (registration) {
    std::string user_id = o.user_id_b64;
    if (user_id.empty()) {
      user_id = base64url_encode(crypto::random_bytes(16));
    } else {
      auto u = base64url_decode(user_id);
      if (!u || u->empty() || u->size() > 64)
        return make_error(Errc::invalid_argument, "--user-id must be 1 to 64 bytes of base64url");
    }
    if (o.user_name.empty()) return make_error(Errc::invalid_argument, "give --user-name (or --options-json)");
    j["rp"] = {{"id", o.rp_id}, {"name", o.rp_id}};
    j["user"] = {{"id", user_id}, {"name", o.user_name},
                 {"displayName", o.display_name.empty() ? o.user_name : o.display_name}};
    j["pubKeyCredParams"] = json::array({{{"type", "public-key"}, {"alg", -7}}, {{"type", "public-key"}, {"alg", -257}}});
    j["authenticatorSelection"] = {{"residentKey", o.no_resident_key ? "discouraged" : "required"}};
  } else {
    j["rpId"] = o.rp_id;
    json allow = json::array();
    for (const auto& a : o.allow) {
      auto id = base64url_decode(a);
      if (!id || id->empty()) return make_error(Errc::invalid_argument, "--allow takes base64url credential IDs");
      allow.push_back({{"type", "public-key"}, {"id", a}});
    }
    if (!allow.empty()) j["allowCredentials"] = allow;
  }
  if (!prf.is_null()) j["extensions"] = {{"prf", prf}};
  return j.dump();
}

// Shows the QR code: on the terminal (stderr) and in the files asked for (mode 0600).
// (--qr-url-file is written by the library: DesktopConfig::qr_url_file.)
Status show_qr(const DesktopOptions& o, const std::string& url) {
  auto matrix = hg::qr::encode(url);
  if (!matrix) return matrix.error();
  if (!o.qr_png.empty()) {
    auto png = hg::qr::to_png(*matrix);
    if (!png) return png.error();
    std::string bytes(reinterpret_cast<const char*>(png->data()), png->size());
    if (auto st = store::write_private_file(o.qr_png, bytes); !st)
      return make_error(Errc::io, "cannot write " + o.qr_png + ": " + st.error().to_string());
  }
  if (o.print_qr_url) std::cerr << url << "\n";
  if (!o.no_terminal_qr) {
    std::cerr << hg::qr::to_terminal(*matrix, {.light_on_dark = !o.dark_on_light});
    std::cerr << "Scan this QR code with your phone's camera (\"use a phone or tablet\").\n";
  }
  return ok_status();
}

// The shared desktop configuration (config file, HYBRIDGATE_* variables; hybrid/settings.hpp)
// with the flags given on top.
Result<hybrid::DesktopConfig> desktop_config(const DesktopOptions& o) {
  HG_TRY(hybrid::DesktopConfig c, hybrid::load_desktop_config());
  if (!o.common.tunnel_url.empty()) c.tunnel_url = o.common.tunnel_url;
  if (!o.common.ca_file.empty()) c.ca_file = o.common.ca_file;
  const ble::RadioOptions flags = radio_options(o.common);
  if (!o.common.radio.empty()) c.radio.kind = flags.kind;
  if (!o.common.adapter.empty()) c.radio.adapter = o.common.adapter;
  if (!o.common.loopback_dir.empty()) c.radio.loopback_dir = o.common.loopback_dir;
  c.radio.notice = flags.notice;
  if (!o.links_file.empty()) c.links_file = o.links_file;
  if (o.link_phone) c.link_phone = true;
  if (!o.phone.empty()) c.phone = o.phone;
  if (!o.qr_url_file.empty()) c.qr_url_file = o.qr_url_file;
  if (o.advert_timeout > 0) c.deadlines.advert = secs(o.advert_timeout);
  if (o.connect_timeout > 0) c.deadlines.connect = secs(o.connect_timeout);
  if (o.handshake_timeout > 0) c.deadlines.handshake = secs(o.handshake_timeout);
  if (o.response_timeout > 0) c.deadlines.response = secs(o.response_timeout);
  return c;
}

int do_desktop(const DesktopOptions& o, bool registration) {
  auto text = options_text(o, registration);
  if (!text) return fail(text.error());
  auto config = desktop_config(o);
  if (!config) return fail_config(config.error());
  hybrid::Desktop desktop(std::move(*config));
  CancelOnInterrupt on_interrupt([&desktop] { desktop.cancel(); });
  std::optional<Error> qr_error;
  // --no-terminal-qr: the QR code goes to the security key's window when `hybridgate key` is on
  // the session bus (bridges/key/bus.hpp), through the key bridge's helper program
  // (key_window.hpp); it closes once the phone is connected.
  std::mutex window_mutex;
  std::unique_ptr<KeyWindow> window;
  hybrid::DesktopCallbacks cb;
  // Only a QR callback that shows something (the terminal, a PNG, the URL on stderr, the key's
  // window): with none (and no --qr-url-file) the library refuses at once instead of waiting for
  // a phone nobody can point at a QR code.
  auto qr = [&](const std::string& url) {
    if (auto st = show_qr(o, url); !st) {
      qr_error = st.error();
      desktop.cancel();
      return;
    }
    if (!o.no_terminal_qr) return;
    std::string rp_id, account;
    if (auto j = nlohmann::json::parse(*text, nullptr, false); j.is_object()) {
      const auto* rp = registration ? &j["rp"] : nullptr;
      if (rp && rp->is_object() && rp->contains("id") && (*rp)["id"].is_string()) rp_id = (*rp)["id"];
      if (!registration && j.contains("rpId") && j["rpId"].is_string()) rp_id = j["rpId"];
      if (registration && j.contains("user") && j["user"].is_object() && j["user"].contains("name") &&
          j["user"]["name"].is_string())
        account = j["user"]["name"];
    }
    if (rp_id.empty()) rp_id = o.rp_id;
    std::lock_guard lk(window_mutex);
    window = KeyWindow::show(rp_id, account, url, [&desktop] { desktop.cancel(); });
    if (window && !o.common.quiet) std::cerr << "hybridgate desktop: the QR code is shown in the security key's window\n";
  };
  if (!o.no_terminal_qr || !o.qr_png.empty() || o.print_qr_url || KeyWindow::available())
    cb.qr = qr;
  cb.stage = [&, next = progress(o.common, "desktop")](hybrid::Stage st, const std::string& detail) {
    if (st == hybrid::Stage::tunnel_connected) {
      std::lock_guard lk(window_mutex);
      window.reset();
    }
    if (next) next(st, detail);
  };
  cb.notice = [&o](const std::string& s) {
    if (!o.common.quiet) std::cerr << "hybridgate desktop: " << s << "\n";
  };
  auto cred = registration ? desktop.create(*text, o.origin, cb) : desktop.get(*text, o.origin, cb);
  {
    std::lock_guard lk(window_mutex);
    window.reset();
  }
  if (qr_error) return fail(*qr_error);
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
  bool no_eddsa = false;
  double desktop_timeout = 120, connect_timeout = 15;
  double qr_file_timeout = 120;  // seconds --qr-file may take to appear
  std::string user;  // which account to sign in with when several match
  SecretSource pin_source;  // --pin-fd / --pinentry (default: the terminal)
  int passphrase_fd = -1;   // --passphrase-fd (default: pinentry / the terminal)
  bool set_pin = false;
  bool seal = false;
  bool tpm = false;         // --seal --tpm: sealed by the TPM, not with a passphrase
  std::string tpm_tcti;     // --tpm-tcti (default: $TPM2TOOLS_TCTI, $TSS2_TCTI, device:/dev/tpmrm0)
  bool test_assume_verified = false;
};

std::string_view operation_text(authenticator::Operation op) {
  switch (op) {
    case authenticator::Operation::make_credential: return "create a passkey";
    case authenticator::Operation::get_assertion: return "sign in";
    case authenticator::Operation::excluded: return "create a passkey (one exists already)";
    case authenticator::Operation::selection: return "use this phone";
  }
  return "use this phone";
}

// Asks the person on the terminal; --yes answers for them, --user picks the account. A prompt is
// taken down when the desktop goes away before the answer (the authenticator then creates and
// signs nothing).
//
// --yes is presence only: a request that asks for user verification gets the PIN asked
// (--pin-fd, --pinentry or the terminal), --yes or not.
class PromptPresence final : public authenticator::UserPresence {
 public:
  PromptPresence(bool yes, std::string user, SecretSource pin_source)
      : yes_(yes), user_(std::move(user)), pin_source_(std::move(pin_source)) {}
  std::optional<SecretBytes> ask_pin(const authenticator::PinPrompt& p, const std::atomic<bool>& cancelled) override {
    SecretQuestion q;
    q.title = "hybridgate phone";
    q.description = p.rp_id + " asks to " + std::string(operation_text(p.op)) +
                    (p.user_name.empty() ? "" : " as " + p.user_name) +
                    ". Enter the PIN of this phone's store to verify it is you.";
    q.prompt = "PIN:";
    if (p.again) q.error = "Wrong PIN. ";
    if (p.again || p.retries < 8) q.error += std::to_string(p.retries) + (p.retries == 1 ? " try" : " tries") + " left.";
    std::cerr << "hybridgate phone: " << p.rp_id << " asks for user verification: asking for the PIN\n";
    std::string why;
    auto pin = ask_secret(pin_source_, q, cancelled, &why);
    if (!pin) std::cerr << "hybridgate phone: no PIN (" << why << "); the request is refused\n";
    return pin;
  }
  bool confirm(const std::string& rp_id, const std::string& user_name, authenticator::Operation op) override {
    const std::atomic<bool> never{false};
    return confirm_cancellable(rp_id, user_name, op, never);
  }
  bool confirm_cancellable(const std::string& rp_id, const std::string& user_name, authenticator::Operation op,
                           const std::atomic<bool>& cancelled) override {
    const char* what = op == authenticator::Operation::make_credential ? "create a passkey" : "sign in";
    if (yes_) {
      std::cerr << "hybridgate phone: approving (--yes): " << what << " for " << rp_id
                << (user_name.empty() ? "" : " as " + user_name) << "\n";
      return true;
    }
    std::cerr << "hybridgate phone: " << rp_id << " asks to " << what << (user_name.empty() ? "" : " as " + user_name)
              << ". Allow? [y/N] " << std::flush;
    auto answer = read_line(cancelled);
    return answer && (*answer == "y" || *answer == "Y" || *answer == "yes");
  }
  std::optional<size_t> choose_account(const std::string& rp_id, const std::vector<std::string>& accounts,
                                       const std::atomic<bool>& cancelled) override {
    if (!user_.empty()) {
      for (size_t i = 0; i < accounts.size(); ++i)
        if (accounts[i] == user_ || accounts[i].starts_with(user_ + " (")) return i;
      std::cerr << "hybridgate phone: no passkey for " << user_ << " at " << rp_id << "\n";
      return std::nullopt;
    }
    if (yes_) {
      std::cerr << "hybridgate phone: " << accounts.size() << " accounts at " << rp_id << "; using the newest (--yes): "
                << accounts.front() << "\n";
      return 0;
    }
    std::cerr << "hybridgate phone: " << rp_id << " — which account?\n";
    for (size_t i = 0; i < accounts.size(); ++i) std::cerr << "  " << i + 1 << ") " << accounts[i] << "\n";
    std::cerr << "Sign in as [1-" << accounts.size() << ", anything else: none] " << std::flush;
    auto answer = read_line(cancelled);
    if (!answer || answer->empty() || answer->size() > 4 ||
        !std::ranges::all_of(*answer, [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    const size_t n = std::stoul(*answer);
    if (n < 1 || n > accounts.size()) return std::nullopt;
    return n - 1;
  }

 private:
  // One line from the terminal; nullopt at end of input or once `cancelled` turns true.
  static std::optional<std::string> read_line(const std::atomic<bool>& cancelled) {
    std::string answer;
    while (true) {
      if (cancelled) {
        std::cerr << "\nhybridgate phone: the desktop went away; the request was withdrawn\n";
        return std::nullopt;
      }
      pollfd p{STDIN_FILENO, POLLIN, 0};
      const int n = ::poll(&p, 1, 100);  // also re-checks `cancelled` every 100 ms
      if (n < 0 && errno != EINTR) return std::nullopt;
      if (n <= 0) continue;
      char c = 0;
      const ssize_t got = ::read(STDIN_FILENO, &c, 1);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return std::nullopt;  // end of input
      if (c == '\n') return answer;
      if (answer.size() < 64) answer += c;
    }
  }

  bool yes_;
  std::string user_;
  SecretSource pin_source_;
};

// --set-pin: sets the store's PIN, or changes it (the current PIN first).
int do_set_pin(const PhoneCliOptions& o, authenticator::SoftwareAuthenticator& authn, bool pin_set) {
  const std::atomic<bool> never{false};
  SecretQuestion q;
  q.title = "hybridgate phone";
  q.prompt = "PIN:";
  std::string why;
  std::optional<SecretBytes> current;
  if (pin_set) {
    q.description = "Enter the current PIN of " + o.store;
    current = ask_secret(o.pin_source, q, never, &why);
    if (!current) return fail(make_error(Errc::invalid_argument, "no current PIN (" + why + ")"));
  }
  q.description = "Enter the new PIN for " + o.store + " (4 to 63 characters)";
  auto pin = ask_secret(o.pin_source, q, never, &why);
  if (!pin) return fail(make_error(Errc::invalid_argument, "no new PIN (" + why + ")"));
  if (o.pin_source.fd < 0) {  // typed by a person: once more, to catch a typo
    q.description = "Enter the new PIN again";
    auto again = ask_secret(o.pin_source, q, never, &why);
    if (!again || !ct_equal(again->view(), pin->view()))
      return fail(make_error(Errc::invalid_argument, "the two new PINs differ; nothing was changed"));
  }
  std::optional<ByteView> cur;
  if (current) cur = current->view();
  if (auto st = authn.set_pin(pin->view(), cur); !st) return fail(st.error());
  print_json({{"pin_set", true}, {"changed", pin_set}});
  return 0;
}

// Waits until `path` exists and is not empty (the desktop writes it atomically), at most
// `timeout`: woken by inotify on its folder, so a file written a moment after the phone started
// is read at once. A folder that does not exist is an error at once; so is a deadline passed.
Status wait_for_file(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  const auto ready = [&path] {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > 0 && !ec;
  };
  if (ready()) return ok_status();
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return make_error(Errc::io, "the folder of the QR file " + path.string() + " does not exist");
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return make_error(Errc::io, std::string("inotify_init1: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::inotify_add_watch(fd, dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY) < 0)
    return make_error(Errc::io, "cannot watch " + dir.string() + ": " + std::strerror(errno));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {  // checked again after the watch exists: no file can slip in between
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(Errc::session_deadline, "the QR file " + path.string() + " did not appear within " +
                                                    std::to_string(timeout.count() / 1000.0).substr(0, 6) + " s");
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, int(std::min<int64_t>(left.count(), 60'000)));
    if (n < 0 && errno != EINTR) return make_error(Errc::io, std::string("poll: ") + std::strerror(errno));
    char events[4096];
    while (::read(fd, events, sizeof events) > 0) {
    }
  }
  return ok_status();
}

// The authenticator can answer a store failure only with a CTAP status byte; this wrapper keeps
// the first store.locked error so `hybridgate phone` reports it (and exits non-zero) instead of a
// served request. The authenticator may call it from its request thread.
class LockReportingStore final : public authenticator::CredentialStore {
 public:
  explicit LockReportingStore(authenticator::CredentialStore& s) : s_(s) {}
  Result<std::vector<authenticator::CredentialRecord>> find_by_rp(const std::string& rp_id) override {
    return note(s_.find_by_rp(rp_id));
  }
  Result<std::optional<authenticator::CredentialRecord>> find_by_id(ByteView id) override { return note(s_.find_by_id(id)); }
  Status add(const authenticator::CredentialRecord& r) override { return note(s_.add(r)); }
  Status remove(ByteView id) override { return note(s_.remove(id)); }
  Status update_sign_count(ByteView id, uint32_t n) override { return note(s_.update_sign_count(id, n)); }
  Result<std::optional<authenticator::PinRecord>> pin() override { return note(s_.pin()); }
  Status set_pin(const authenticator::PinRecord& r) override { return note(s_.set_pin(r)); }
  std::optional<Error> failure() {
    std::lock_guard<std::mutex> lock(mu_);
    return failure_;
  }

 private:
  template <class R>
  R note(R r) {
    if (!r && r.error().code == Errc::store_locked) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!failure_) failure_ = r.error();
    }
    return r;
  }
  authenticator::CredentialStore& s_;
  std::mutex mu_;
  std::optional<Error> failure_;
};

std::filesystem::path link_state_path(const PhoneCliOptions& o) {
  return o.link_state.empty() ? std::filesystem::path(o.store + ".link") : std::filesystem::path(o.link_state);
}

SecretSource passphrase_source(const PhoneCliOptions& o) {
  SecretSource src = o.pin_source;
  src.fd = o.passphrase_fd;
  return src;
}

// The TPM that seals and opens TPM-sealed stores (tpm2-tss); null in a build without it, and then
// a TPM-sealed store is store.sealed with a sentence that says so.
std::unique_ptr<store::TpmSealer> tpm_sealer(const PhoneCliOptions& o) {
#if HG_HAVE_TPM
  // tpm2-tss prints its own ERROR/WARNING lines on standard error; the failure's sentence already
  // carries the decoded response code. TSS2_LOG set by the person (e.g. all+ERROR) wins.
  ::setenv("TSS2_LOG", "all+NONE", 0);
  return std::make_unique<store::Tss2Sealer>(store::tpm_tcti_config(o.tpm_tcti));
#else
  (void)o;
  return nullptr;
#endif
}

// --seal --tpm: the same consent, the key sealed by the TPM (no passphrase).
int do_seal_tpm(const PhoneCliOptions& o) {
  auto tpm = tpm_sealer(o);
  if (!tpm)
    return fail(make_error(Errc::invalid_argument, "this hybridgate was built without TPM support (tpm2-tss, "
                                                   "libtss2-dev); nothing was changed"));
  if (auto st = store::FileCredentialStore::seal_tpm(o.store, *tpm); !st) return fail(st.error());
  auto opened = store::FileCredentialStore::open(o.store, nullptr, tpm.get());
  if (!opened) return fail(opened.error());
  print_json({{"sealed", true}, {"seal", "tpm2"}, {"credentials", (*opened)->size()}});
  return 0;
}

// --seal: the person's consent to seal a plaintext store (every passkey kept).
int do_seal(const PhoneCliOptions& o) {
  if (o.tpm) return do_seal_tpm(o);
  const std::atomic<bool> never{false};
  SecretQuestion q;
  q.title = "hybridgate phone";
  q.prompt = "Passphrase:";
  q.max_len = 1024;
  q.description = "A passphrase to seal " + o.store + " (its passkeys are encrypted with it; without it they are lost)";
  std::string why;
  auto pass = ask_secret(passphrase_source(o), q, never, &why);
  if (!pass || pass->size() == 0) return fail(make_error(Errc::invalid_argument, "no passphrase (" + why + ")"));
  if (o.passphrase_fd < 0) {
    q.description = "The same passphrase again";
    auto again = ask_secret(passphrase_source(o), q, never, &why);
    if (!again || !ct_equal(again->view(), pass->view()))
      return fail(make_error(Errc::invalid_argument, "the two passphrases differ; nothing was changed"));
  }
  if (auto st = store::FileCredentialStore::seal(o.store, *pass); !st) return fail(st.error());
  auto opened = store::FileCredentialStore::open(o.store, &*pass);
  if (!opened) return fail(opened.error());
  print_json({{"sealed", true}, {"credentials", (*opened)->size()}});
  return 0;
}

// Opens the store; a passphrase-sealed one after asking for its passphrase, a TPM-sealed one with
// the TPM (nothing asked).
Result<std::unique_ptr<store::FileCredentialStore>> open_store(const PhoneCliOptions& o) {
  auto tpm = tpm_sealer(o);
  auto store = store::FileCredentialStore::open(o.store, nullptr, tpm.get());
  if (store || store.error().code != Errc::store_sealed) return store;
  auto kind = store::FileCredentialStore::seal_kind(o.store);
  if (!kind || *kind != store::SealKind::scrypt) return store;  // the TPM's refusal, as it is
  const std::atomic<bool> never{false};
  SecretQuestion q;
  q.title = "hybridgate phone";
  q.prompt = "Passphrase:";
  q.max_len = 1024;
  q.description = "The passphrase of " + o.store;
  std::string why;
  auto pass = ask_secret(passphrase_source(o), q, never, &why);
  if (!pass) return make_error(Errc::store_sealed, o.store + ": no passphrase (" + why + ")");
  return store::FileCredentialStore::open(o.store, &*pass);
}

int do_phone(const PhoneCliOptions& o) {
  if (o.seal) return do_seal(o);
  auto store = open_store(o);
  if (!store) return fail(store.error());
  if (!(*store)->sealed() && !o.common.quiet)
    std::cerr << "hybridgate phone: " << o.store << " is not sealed: its private keys are readable by anything "
              << "running as you, and by every backup ('hybridgate phone --store " << o.store << " --seal' seals it)\n";
  PromptPresence presence(o.yes, o.user, o.pin_source);
  authenticator::Config cfg;
  cfg.test_assume_verified = o.test_assume_verified;
  cfg.attestation = o.attestation == "packed" ? authenticator::AttestationFormat::packed_self : authenticator::AttestationFormat::none;
  cfg.now = [] { return uint64_t(std::time(nullptr)); };
  cfg.prf = !o.no_prf;
  cfg.eddsa = !o.no_eddsa;
  LockReportingStore reporting(**store);
  authenticator::SoftwareAuthenticator authn(reporting, presence, cfg);
  if (o.set_pin) {
    auto pin = (*store)->pin();
    if (!pin) return fail(pin.error());
    return do_set_pin(o, authn, pin->has_value());
  }

  // --qr-file: the desktop may write it after the phone started; wait for it (bounded) before
  // anything else, so Ctrl-C here simply exits.
  std::string url = o.qr;
  if (!o.qr_file.empty()) {
    if (o.qr_file != "-") {
      std::error_code ec;
      if (!o.common.quiet && !std::filesystem::exists(o.qr_file, ec))
        std::cerr << "hybridgate phone: waiting for the QR file " << o.qr_file << "\n";
      if (auto st = wait_for_file(o.qr_file, secs(o.qr_file_timeout)); !st) return fail(st.error());
    }
    auto text = read_input(o.qr_file, 4096, "the QR file");
    if (!text) return fail(text.error());
    url = text->substr(0, text->find('\n'));
  }

  hybrid::PhoneConfig pc;
  pc.tunnel_url = o.common.tunnel_url;
  pc.ca_file = o.common.ca_file;
  pc.radio = radio_options(o.common);
  pc.domain_id = uint16_t(o.domain_id);
  pc.link_state = link_state_path(o);
  pc.name = o.phone_name;
  pc.forge_link_signature = o.forge_link_signature;
  pc.desktop = secs(o.desktop_timeout);
  pc.connect = secs(o.connect_timeout);
  hybrid::Phone phone(pc, authn);
  CancelOnInterrupt on_interrupt([&phone] { phone.cancel(); });
  hybrid::Events events{progress(o.common, "phone")};

  if (o.unlink) {
    if (auto st = phone.unlink(); !st) return fail(st.error());
    print_json({{"unlinked", true}});
    return 0;
  }
  if (o.listen) {
    if (!o.common.quiet) std::cerr << "hybridgate phone: listening for linked desktops\n";
    auto r = phone.listen(o.once ? 1 : 0, events);
    if (!r) return fail(r.error());
    if (auto locked = reporting.failure()) return fail(*locked);
    if (r->failed > 0 && o.once) return fail(make_error(Errc::session_handshake, "the linked session failed"));
    print_json({{"wakeups", r->wakeups}, {"requests_served", r->requests_served}});
    return 0;
  }

  while (!url.empty() && (url.back() == '\n' || url.back() == '\r' || url.back() == ' ')) url.pop_back();
  auto r = phone.serve_qr(url, o.link, events);
  if (auto locked = reporting.failure()) return fail(*locked);  // the desktop got CTAP1_ERR_OTHER
  if (!r) return fail(r.error());
  if (o.link && !r->linked && !o.common.quiet)
    std::cerr << "hybridgate phone: this QR code does not offer linking; not linked\n";
  print_json({{"requests_served", r->requests_served}, {"shutdown_received", r->shutdown_received}, {"linked", r->linked}});
  return 0;
}

int do_links(const std::string& file, const std::string& remove) {
  auto c = hybrid::load_desktop_config();
  if (!c) return fail_config(c.error());
  if (!file.empty()) c->links_file = file;
  hybrid::Desktop desktop(std::move(*c));
  if (!remove.empty()) {
    auto r = desktop.forget(remove);
    if (!r) return fail(r.error());
    if (!*r) return fail(make_error(Errc::invalid_argument, "no linked phone named '" + remove + "'"));
    print_json({{"removed", remove}});
    return 0;
  }
  auto phones = desktop.phones();
  if (!phones) return fail(phones.error());
  json arr = json::array();
  for (const auto& p : *phones)
    arr.push_back({{"name", p.name}, {"domain_id", p.domain_id}, {"tunnel_url", p.tunnel_url}, {"created", p.created},
                   {"contact", p.contact_tag}});
  print_json({{"links", arr}});
  return 0;
}

}  // namespace

void add_ceremonies(CLI::App& app, int& exit_code) {
  auto reg = std::make_shared<DesktopOptions>();
  auto* r = app.add_subcommand("register", "Create a passkey on a phone: show a QR code, print the PublicKeyCredential JSON");
  add_desktop_options(r, *reg);
  auto* oj = r->get_option("--options-json");
  oj->excludes(r->add_option("--user-name", reg->user_name, "User name, e.g. alice@example.com"));
  oj->excludes(r->add_option("--display-name", reg->display_name, "Display name (default: the user name)"));
  oj->excludes(r->add_option("--user-id", reg->user_id_b64, "User handle, base64url (default: 16 random bytes)"));
  oj->excludes(r->add_flag("--no-resident-key", reg->no_resident_key, "Ask for a non-discoverable credential"));
  oj->excludes(r->add_flag("--prf", reg->prf,
                           "Ask for the WebAuthn PRF extension (clientExtensionResults.prf.enabled says if the phone has it)"));
  r->callback([&exit_code, reg] { exit_code = do_desktop(*reg, true); });

  auto sign = std::make_shared<DesktopOptions>();
  auto* s = app.add_subcommand("sign-in", "Sign in with a passkey on a phone: show a QR code, print the assertion JSON");
  add_desktop_options(s, *sign);
  auto* soj = s->get_option("--options-json");
  soj->excludes(s->add_option("--allow", sign->allow, "Allowed credential ID, base64url (repeatable; default: any discoverable)"));
  soj->excludes(s->add_option("--prf-by-credential", sign->prf_by_credential,
                              "PRF inputs for one allowed credential: CREDENTIAL_ID:FIRST[:SECOND], base64url "
                              "(repeatable; overrides --prf-first for that credential)"));
  s->callback([&exit_code, sign] { exit_code = do_desktop(*sign, false); });

  auto ph = std::make_shared<PhoneCliOptions>();
  auto* p = app.add_subcommand("phone", "Act as the phone: read a QR code, advertise, answer with a software authenticator");
  add_common(p, ph->common);
  auto* q1 = p->add_option("--qr", ph->qr, "The FIDO:/… URL (visible in ps: prefer --qr-file)");
  auto* q2 = p->add_option("--qr-file", ph->qr_file,
                           "A file holding the FIDO:/… URL, or - for standard input; waited for when it does not exist yet");
  p->add_option("--qr-file-timeout", ph->qr_file_timeout,
                "Seconds to wait for --qr-file to appear (default 120)")
      ->check(CLI::Range(0.001, 86400.0));
  q1->excludes(q2);
  p->add_option("--store", ph->store, "Credential store file (created with mode 0600)")->required();
  p->add_flag("--yes", ph->yes,
              "Approve every request without asking (presence only: a request for user verification still "
              "asks for the PIN)");
  p->add_option("--pin-fd", ph->pin_source.fd,
                "Read PINs from this file descriptor, one line each (scripts and tests; never put a PIN in argv)")
      ->check(CLI::Range(0, 1 << 20));
  p->add_option("--pinentry", ph->pin_source.pinentry,
                "Ask for the PIN with this pinentry program (e.g. pinentry-curses; default: the terminal)");
  auto* sp = p->add_flag("--set-pin", ph->set_pin,
                         "Set the store's PIN (or change it: the current PIN is asked first), then exit");
  auto* se = p->add_flag("--seal", ph->seal,
                         "Seal the store with a passphrase (asked; scrypt + AES-256-GCM), keeping every passkey, then exit");
  auto* tp = p->add_flag("--tpm", ph->tpm,
                         "With --seal: seal the store's key by the TPM 2.0 (tpm2-tss) instead of a passphrase; "
                         "the store then opens only on this machine, without a passphrase");
  p->add_option("--tpm-tcti", ph->tpm_tcti,
                "TCTI of the TPM that seals or opens the store (default: $TPM2TOOLS_TCTI, $TSS2_TCTI, "
                "device:/dev/tpmrm0; e.g. swtpm:host=127.0.0.1,port=2321)");
  p->add_option("--passphrase-fd", ph->passphrase_fd,
                "Read the store's passphrase from this file descriptor, one line (scripts and tests)")
      ->check(CLI::Range(0, 1 << 20));
  p->add_flag("--test-assume-verified", ph->test_assume_verified,
              "FOR TESTS ONLY: claim user verification without verifying anybody");
  p->add_option("--user", ph->user,
                "When several passkeys of the site could sign in, use this user name's (default: ask; "
                "with --yes, the newest)");
  p->add_option("--domain-id", ph->domain_id, "Tunnel domain ID to put in the advert (default 0, cable.ua5v.com)")
      ->check(CLI::Range(0, 65535));
  p->add_flag("--no-prf", ph->no_prf, "Do not offer the WebAuthn PRF extension (act like a phone without it)");
  p->add_flag("--no-eddsa", ph->no_eddsa, "Do not offer EdDSA (Ed25519) keys, only ES256 (act like a phone without them)");
  p->add_option("--attestation", ph->attestation, "none (default) or packed (self attestation)")
      ->check(CLI::IsMember({"none", "packed"}));
  p->add_option("--desktop-timeout", ph->desktop_timeout, "Seconds to wait for the desktop after advertising (default 120)");
  p->add_option("--connect-timeout", ph->connect_timeout, "Seconds for connecting to the tunnel server (default 15)");
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
  sp->excludes(q1)->excludes(q2)->excludes(l)->excludes(u);
  se->excludes(q1)->excludes(q2)->excludes(l)->excludes(u)->excludes(sp);
  tp->needs(se);
  p->callback([&exit_code, ph, q1, q2, l, u, sp, se] {
    if (q1->count() == 0 && q2->count() == 0 && l->count() == 0 && u->count() == 0 && sp->count() == 0 &&
        se->count() == 0) {
      exit_code = fail(make_error(Errc::invalid_argument, "give --qr, --qr-file, --listen, --unlink, --set-pin or --seal"));
      return;
    }
    exit_code = do_phone(*ph);
  });

  auto lk = std::make_shared<std::pair<std::string, std::string>>();
  auto* links = app.add_subcommand("links", "Phones this desktop remembers (linked with register/sign-in --link-phone)");
  links->require_subcommand(1);
  auto* list = links->add_subcommand("list", "List remembered phones (JSON)");
  list->add_option("--links-file,--links", lk->first, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  list->callback([&exit_code, lk] { exit_code = do_links(lk->first, ""); });
  auto* rm = links->add_subcommand("remove", "Forget a remembered phone");
  rm->add_option("name", lk->second, "The phone's name")->required();
  rm->add_option("--links-file,--links", lk->first, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  rm->callback([&exit_code, lk] { exit_code = do_links(lk->first, lk->second); });
}

}  // namespace hgcli
