// SPDX-License-Identifier: Apache-2.0
// A non-browser app signing its user in with a passkey on their phone, and deriving a 32-byte
// key from that passkey with the PRF extension — hybridgate's desktop library without the CLI.
// Walk-through: docs/library.md.
//
//   desktop_sign_in --rp-id example.com [--tunnel-url ws://127.0.0.1:8080] [--qr-url-file F]
//
// Prints the credential ID and the PRF output (hex) on stdout. A real app would also send the
// assertion (authenticatorData, signature, clientDataJSON) to its server to verify.
#pragma GCC diagnostic ignored "-Wnull-dereference"  // CLI11 2.1 + libstdc++ 12

#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <CLI/CLI.hpp>

#include "ble/radio.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"
#include "proto/prf.hpp"
#include "proto/qr_payload.hpp"
#include "qr/render.hpp"
#include "tunnel/client/session.hpp"

using namespace hg;

int fail(const Error& e) {
  std::cerr << "desktop_sign_in: " << e.to_string() << "\n";
  return 1;
}

int main(int argc, char** argv) {
  CLI::App app{"Sign in with a passkey on a phone and derive an app key from it (hybridgate library example)"};
  std::string rp_id = "example.com", tunnel_url, qr_url_file;
  app.add_option("--rp-id", rp_id, "Relying party ID");
  app.add_option("--tunnel-url", tunnel_url, "Tunnel server for every domain (default: the QR code's domains)");
  app.add_option("--qr-url-file", qr_url_file, "Also write the FIDO:/ URL to this file");
  CLI11_PARSE(app, argc, argv);

  // 1. The request: clientDataJSON as a browser writes it, its hash in a CTAP2 getAssertion with
  //    no allow list (any passkey of this RP on the phone) and a PRF input.
  const Bytes challenge = crypto::random_bytes(32);  // from your server in a real app
  const std::string client_data = ctap::client_data_json("webauthn.get", challenge, "https://" + rp_id);
  ctap::GetAssertionRequest req;
  req.rp_id = rp_id;
  req.client_data_hash = crypto::sha256(as_bytes(client_data));
  prf::Request prf_req;
  prf_req.eval = prf::Input{prf::salt_for_input(as_bytes(std::string_view("example app key v1"))), std::nullopt};
  req.extensions = cbor::Map{{"prf", cbor::Value(prf::to_cbor(prf_req))}};
  const Bytes request = ctap::encode_request(req);

  // 2. The QR code the phone scans (it carries a fresh identity key and secret).
  auto qr = qr_payload::generate({.request_type = qr_payload::RequestType::get_assertion,
                                  .timestamp = static_cast<uint64_t>(std::time(nullptr))});
  auto matrix = qr::encode(qr.url);
  if (!matrix) return fail(matrix.error());
  std::cerr << qr::to_terminal(*matrix) << "Scan this with your phone's camera.\n";
  if (!qr_url_file.empty()) std::ofstream(qr_url_file) << qr.url << "\n";

  // 3. The session: BLE scan for the phone's advert, tunnel, Noise handshake, request, response.
  //    One io_context, one coroutine; events report the stages for a UI.
  boost::asio::io_context io;
  auto scanner = ble::make_scanner(io, {});  // BlueZ when an adapter is usable, else the loopback radio
  if (!scanner) return fail(scanner.error());
  tunnel::TunnelServer server{tunnel_url, ""};
  tunnel::Events events{[](tunnel::Stage s, const std::string&) {
    if (s == tunnel::Stage::phone_found) std::cerr << "phone found\n";
    if (s == tunnel::Stage::waiting_for_user) std::cerr << "confirm on your phone\n";
  }};
  std::optional<Result<tunnel::DesktopResult>> result;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        result.emplace(co_await tunnel::run_desktop_qr(**scanner, qr, tunnel::fixed_request(request), server, {}, events));
      },
      boost::asio::detached);
  io.run();
  if (!result) return fail(make_error(Errc::session_cancelled));
  if (!*result) return fail(result->error());  // e.g. session.no_advert, ctap.operation_denied

  // 4. The response: the credential used and the PRF output.
  auto resp = ctap::decode_get_assertion_response((*result)->ctap_response);
  if (!resp) return fail(resp.error());
  auto prf_out = prf::outputs_from_unsigned(resp->unsigned_extension_outputs);
  if (!prf_out) return fail(prf_out.error());
  if (!resp->credential || !*prf_out || !(*prf_out)->results)
    return fail(make_error(Errc::ctap_invalid, "the phone returned no credential ID or no PRF output"));
  std::cout << "credential " << base64url_encode(resp->credential->id) << "\n"
            << "prf " << hex_encode((*prf_out)->results->first) << "\n";
  return 0;
}
