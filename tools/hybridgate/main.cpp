// SPDX-License-Identifier: Apache-2.0
// hybridgate: the desktop and phone command line of the FIDO hybrid transport.
#include <iostream>

#include "commands.hpp"
#include "hybrid/settings.hpp"
#include "interrupt.hpp"

namespace hgcli {

void print_json(const nlohmann::json& j) { std::cout << j.dump(2) << std::endl; }

int print_error(std::string_view code, const std::string& message) {
  print_json({{"error", {{"code", code}, {"message", message}}}});
  return 1;
}

int print_error(const hg::Error& e) {
  std::string msg(e.sentence());
  if (!e.detail.empty()) msg += " (" + e.detail + ")";
  return print_error(e.name(), msg);
}

int fail(const hg::Error& e, std::string_view who) {
  std::cerr << who << ": " << e.sentence();
  if (!e.detail.empty()) std::cerr << " (" << e.detail << ")";
  std::cerr << " [" << e.name() << "]\n";
  const int printed = print_error(e);
  if (e.code == hg::Errc::session_cancelled && interrupted()) return kExitInterrupted;
  return printed;
}

int fail_config(const hg::Error& e, std::string_view who) {
  const int rc = fail(e, who);
  return e.code == hg::Errc::config_invalid ? kExitUsage : rc;
}

namespace {
template <typename Check>
CLI::Validator setting_check(const char* name, Check check) {
  return CLI::Validator(
      [check](std::string& value) -> std::string {
        auto st = check(value);
        return st ? std::string() : st.error().detail;
      },
      "", name);
}
}  // namespace

const CLI::Validator& tunnel_url_check() {
  static const CLI::Validator v = setting_check("TUNNEL_URL", [](const std::string& s) { return hg::hybrid::check_tunnel_url(s); });
  return v;
}
const CLI::Validator& ca_file_check() {
  static const CLI::Validator v = setting_check("CA_FILE", [](const std::string& s) { return hg::hybrid::check_ca_file(s); });
  return v;
}
const CLI::Validator& qr_url_file_check() {
  static const CLI::Validator v = setting_check("QR_URL_FILE", [](const std::string& s) { return hg::hybrid::check_qr_url_file(s); });
  return v;
}

}  // namespace hgcli

int main(int argc, char** argv) {
  hgcli::install_interrupt_handler();
  CLI::App app{"hybridgate: sign in on this computer with a passkey on your phone (FIDO hybrid / caBLE v2)", "hybridgate"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "hybridgate 0.2.0");
  int exit_code = 0;
  hgcli::add_inspect(app, exit_code);
  hgcli::add_qr(app, exit_code);
  hgcli::add_doctor(app, exit_code);
  hgcli::add_ceremonies(app, exit_code);
  hgcli::add_pam(app, exit_code);
  hgcli::add_key(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, the version, or the error and a hint
    return rc == 0 ? 0 : hgcli::kExitUsage;
  }
  return exit_code;
}
