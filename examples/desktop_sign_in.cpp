// SPDX-License-Identifier: Apache-2.0
// A non-browser app signing its user in with a passkey on their phone, and deriving a 32-byte
// key from that passkey with the PRF extension — hybridgate's C++ library without the CLI.
// Walk-through: docs/library.md.
//
//   desktop_sign_in --rp-id example.com [--tunnel-url ws://127.0.0.1:8080] [--qr-url-file F]
//
// Prints the credential ID and the PRF output (hex) on stdout. A real app would also send the
// assertion (authenticatorData, signature, clientDataJSON) to its server to verify.
#pragma GCC diagnostic ignored "-Wnull-dereference"  // CLI11 2.1 + libstdc++ 12

#include <CLI/CLI.hpp>
#include <iostream>

#include "hybrid/desktop.hpp"
#include "proto/bytes.hpp"
#include "proto/crypto.hpp"
#include "qr/render.hpp"

using namespace hg;

static int fail(const Error& e) {
  std::cerr << "desktop_sign_in: " << e.to_string() << "\n";
  return 1;
}

int main(int argc, char** argv) {
  CLI::App app{"Sign in with a passkey on a phone and derive a key from it (hybridgate library example)"};
  std::string rp_id, tunnel_url, qr_url_file;
  app.add_option("--rp-id", rp_id, "Relying party ID")->required();
  app.add_option("--tunnel-url", tunnel_url, "Tunnel server for every domain (default: the QR code's domains)");
  app.add_option("--qr-url-file", qr_url_file, "Also write the FIDO:/ URL to this file");
  CLI11_PARSE(app, argc, argv);

  // 1. The request, as a relying party's server would send it (WebAuthn JSON): any discoverable
  //    passkey for rp_id, and the PRF evaluated at an app-specific input.
  const nlohmann::json options = {
      {"rpId", rp_id},
      {"challenge", base64url_encode(crypto::random_bytes(32))},
      {"userVerification", "required"},
      {"extensions", {{"prf", {{"eval", {{"first", base64url_encode(as_bytes(std::string("example app key v1")))}}}}}}}};

  // 2. The desktop: which tunnel server, which radio (automatic: BlueZ if usable, else loopback).
  hybrid::DesktopConfig config;
  config.tunnel_url = tunnel_url;
  config.qr_url_file = qr_url_file;  // written atomically, 0600, and removed once the phone answered
  hybrid::Desktop desktop(config);

  // 3. Show the QR code when it is ready; follow the progress.
  hybrid::DesktopCallbacks cb;
  cb.qr = [&](const std::string& url) {
    if (auto m = qr::encode(url)) std::cerr << qr::to_terminal(*m);
  };
  cb.stage = [](hybrid::Stage s, const std::string&) { std::cerr << "… " << hybrid::to_string(s) << "\n"; };

  // 4. The ceremony: blocks until the phone answered (or an error: session.no_advert, ...).
  auto credential = desktop.get(options.dump(), "https://" + rp_id, cb);
  if (!credential) return fail(credential.error());

  // 5. The result: the credential used and the PRF output (PublicKeyCredential JSON).
  const auto& prf = (*credential)["clientExtensionResults"]["prf"];
  if (!prf.contains("results")) return fail(make_error(Errc::ctap_invalid, "the phone returned no PRF output"));
  auto first = base64url_decode(prf["results"]["first"].get<std::string>());
  if (!first) return fail(first.error());
  std::cout << "credential " << (*credential)["id"].get<std::string>() << "\n"
            << "prf " << hex_encode(*first) << "\n";
  return 0;
}
