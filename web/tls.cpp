// SPDX-License-Identifier: Apache-2.0
#include "web/tls.hpp"

#include <fstream>

namespace hg::web {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> make_client_tls(const std::string& ca_file, CaFile mode, const std::string& what) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (!ca_file.empty() && !std::ifstream(ca_file))
    return make_error(Errc::io, what + " " + ca_file + " cannot be read");
  if (ca_file.empty() || mode == CaFile::adds_to_system_store) {
    ctx->set_default_verify_paths(ec);
    if (ec) return make_error(Errc::io, "the system CA store: " + ec.message());
  }
  if (!ca_file.empty()) {
    ctx->load_verify_file(ca_file, ec);  // fails on a file without a PEM certificate
    if (ec) return make_error(Errc::io, what + " " + ca_file + ": " + ec.message());
  }
  return ctx;
}

}  // namespace hg::web
