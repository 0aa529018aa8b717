// SPDX-License-Identifier: Apache-2.0
// `hybridgate pam enroll`: registers a passkey on the phone for pam_hybridgate.so and appends the
// user's credential ID, public key and counter to the authfile. The request and the checks of the
// answer are bridges/pam/pam_core's, which the module uses too; the phone is reached through the
// raw-CTAP connection of the desktop façade (the path hg_desktop_connect wraps).
#include <pwd.h>
#include <unistd.h>

#include <iostream>

#include "bridges/pam/pam_core.hpp"
#include "commands.hpp"
#include "hybrid/desktop.hpp"
#include "hybrid/settings.hpp"
#include "interrupt.hpp"
#include "proto/crypto.hpp"
#include "qr/render.hpp"

namespace hgcli {
namespace {

using namespace hg;

struct EnrollOptions {
  std::string user, authfile, rp_id{hgpam::kDefaultRpId};
  std::string tunnel_url, ca_file, radio, links, phone, qr_url_file;
  bool link_phone = false, no_terminal_qr = false, dark_on_light = false, quiet = false;
  double advert_timeout = 0, response_timeout = 0;
};

int fail_with(const Error& e) { return fail(e, "hybridgate pam enroll"); }

struct Account {
  std::string name;
  std::filesystem::path home;
  uid_t uid = 0;
};

Result<Account> account(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = name.empty() ? ::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found)
                        : ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr)
    return make_error(Errc::invalid_argument, name.empty() ? "this user is not in the password database"
                                                            : "no user '" + name + "' in the password database");
  return Account{pw.pw_name, pw.pw_dir ? pw.pw_dir : "", pw.pw_uid};
}

std::string host_name() {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0 || h[0] == '\0') return "localhost";
  return h;
}

int enroll(const EnrollOptions& o) {
  auto acct = account(o.user);
  if (!acct) return fail_with(acct.error());
  if (!hgpam::valid_user_name(acct->name))
    return fail_with(make_error(Errc::invalid_argument, "the user name cannot be in an authfile"));
  if (!hgpam::valid_rp_id(o.rp_id)) return fail_with(make_error(Errc::invalid_argument, "--rp-id is empty or has spaces"));
  std::filesystem::path authfile = o.authfile;
  if (authfile.empty()) {
    if (acct->uid != ::geteuid())
      return fail_with(make_error(Errc::invalid_argument,
                                  "run this as " + acct->name + " to write their own authfile, or give --authfile "
                                  "(a system-wide file)"));
    if (acct->home.empty() || !acct->home.is_absolute())
      return fail_with(make_error(Errc::invalid_argument, acct->name + " has no home directory; give --authfile"));
    authfile = acct->home / hgpam::kUserAuthfile;
  }
  auto existing = hgpam::read_authfile(authfile, std::nullopt);
  if (!existing) return fail_with(existing.error());
  const auto mine = hgpam::credentials_of(*existing, acct->name);

  auto config = hybrid::load_desktop_config();
  if (!config) return fail_config(config.error(), "hybridgate pam enroll");
  if (!o.tunnel_url.empty()) config->tunnel_url = o.tunnel_url;
  if (!o.ca_file.empty()) config->ca_file = o.ca_file;
  if (!o.radio.empty())
    config->radio.kind = o.radio == "bluez" ? ble::RadioKind::bluez
                         : o.radio == "loopback" ? ble::RadioKind::loopback : ble::RadioKind::automatic;
  config->radio.notice = [q = o.quiet](const std::string& s) {
    if (!q) std::cerr << "hybridgate: " << s << "\n";
  };
  if (!o.links.empty()) config->links_file = o.links;
  if (o.link_phone) config->link_phone = true;
  if (!o.phone.empty()) config->phone = o.phone;
  if (!o.qr_url_file.empty()) config->qr_url_file = o.qr_url_file;
  if (o.advert_timeout > 0) config->deadlines.advert = std::chrono::milliseconds(int64_t(o.advert_timeout * 1000));
  if (o.response_timeout > 0) config->deadlines.response = std::chrono::milliseconds(int64_t(o.response_timeout * 1000));

  hybrid::Desktop desktop(std::move(*config));
  CancelOnInterrupt on_interrupt([&desktop] { desktop.cancel(); });
  hybrid::DesktopCallbacks cb;
  cb.qr = [&o](const std::string& url) {
    if (o.no_terminal_qr) return;
    auto m = hg::qr::encode(url);
    if (!m) return;
    std::cerr << hg::qr::to_terminal(*m, {.light_on_dark = !o.dark_on_light})
              << "Scan this QR code with your phone to enrol it for signing in to this computer.\n";
  };
  cb.notice = [&o](const std::string& s) {
    if (!o.quiet) std::cerr << "hybridgate pam enroll: " << s << "\n";
  };
  if (!o.quiet)
    cb.stage = [](hybrid::Stage s, const std::string&) { std::cerr << "hybridgate pam enroll: " << hybrid::to_string(s) << "\n"; };

  const auto challenge = hgpam::fresh_challenge();
  const Bytes user_id = crypto::random_bytes(16);
  const std::string label = acct->name + "@" + host_name();
  const Bytes request = hgpam::make_credential_request(o.rp_id, challenge, user_id, label, label, mine);
  std::optional<hgpam::Credential> cred;
  auto st = desktop.with_connection(qr_payload::RequestType::make_credential, cb, o.phone, [&](hybrid::Connection& c) -> Status {
    HG_TRY(Bytes response, c.transact(request));
    HG_TRY(auto parsed, hgpam::parse_make_credential_response(response, o.rp_id, acct->name));
    cred = std::move(parsed);
    return ok_status();
  });
  if (!st) return fail_with(st.error());
  if (auto a = hgpam::append_credential(authfile, *cred, std::nullopt); !a) return fail_with(a.error());
  print_json({{"user", acct->name},
              {"authfile", authfile.string()},
              {"rp_id", o.rp_id},
              {"credential_id", base64url_encode(cred->id)},
              {"counter", cred->counter},
              {"flags", cred->flags}});
  return 0;
}

}  // namespace

void add_pam(CLI::App& app, int& exit_code) {
  auto* pam = app.add_subcommand("pam", "Sign in to this computer (sudo, login, ssh) with the phone: pam_hybridgate.so");
  pam->require_subcommand(1);
  auto o = std::make_shared<EnrollOptions>();
  auto* e = pam->add_subcommand("enroll", "Register a passkey on the phone and add it to the PAM authfile");
  e->add_option("--user", o->user, "The account to enrol (default: the user running this)");
  e->add_option("--authfile", o->authfile,
                "The authfile (default: ~USER/.config/hybridgate/pam_keys; a system-wide file for "
                "pam_hybridgate's authfile= option)");
  e->add_option("--rp-id", o->rp_id, "The CTAP rpId (default pam:hybridgate; the module's rp_id= must match)");
  e->add_flag("--link-phone", o->link_phone, "Offer the phone to be remembered, so sign-ins need no QR code");
  e->add_option("--links", o->links, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  e->add_option("--phone", o->phone, "Enrol through this remembered phone (no QR code)");
  e->add_option("--tunnel-url", o->tunnel_url, "Use this tunnel server for every domain")->check(tunnel_url_check());
  e->add_option("--ca-file", o->ca_file, "Extra trusted CA certificate (PEM) for a wss:// tunnel server")->check(ca_file_check());
  e->add_option("--radio", o->radio, "Radio: auto, bluez, loopback")->check(CLI::IsMember({"auto", "bluez", "loopback"}));
  e->add_option("--qr-url-file", o->qr_url_file, "Write the FIDO:/ URL to this file (mode 0600, atomically)")->check(qr_url_file_check());
  e->add_flag("--no-terminal-qr", o->no_terminal_qr, "Do not draw the QR code on stderr");
  e->add_flag("--dark-on-light", o->dark_on_light, "Draw the QR code dark on light");
  e->add_option("--advert-timeout", o->advert_timeout, "Seconds to wait for the phone's advert (default 120)")
      ->check(CLI::PositiveNumber);
  e->add_option("--response-timeout", o->response_timeout, "Seconds the person has to answer (default 180)")
      ->check(CLI::PositiveNumber);
  e->add_flag("--quiet", o->quiet, "Do not print progress on stderr");
  e->callback([&exit_code, o] { exit_code = enroll(*o); });
}

}  // namespace hgcli
