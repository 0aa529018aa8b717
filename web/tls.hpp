// SPDX-License-Identifier: Apache-2.0
// The one TLS client set-up of hybridgate (the tunnel client's wss:// and the relay's https
// webhooks): TLS 1.2 or newer, the peer's chain verified (system CA store and/or a PEM file), the
// host name verified, SNI for names. Included only by the translation units that speak TLS.
#pragma once

#include <utility>  // before Asio (Boost 1.74 + GCC 12)

#include <boost/asio/ssl.hpp>
#include <memory>
#include <string>

#include "proto/error.hpp"

namespace hg::web {

enum class CaFile {
  adds_to_system_store,   // trust the system store and this file (tunnel servers: --ca-file)
  replaces_system_store,  // trust this file only, or the system store when none is given (webhooks)
};

// A client context; io error naming `what` when the CA file cannot be read or holds no certificate.
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls(const std::string& ca_file, CaFile mode,
                                                                   const std::string& what);

// Before the handshake of a client stream to `host`: SNI (for names, not IP literals) and host
// name verification.
template <class SslStream>
Status prepare_client_stream(SslStream& stream, const std::string& host) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  // SSL_set_tlsext_host_name without its C cast.
  if (ec && !SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                      const_cast<char*>(host.c_str())))
    return make_error(Errc::tunnel_unreachable, "cannot set TLS SNI");
  stream.set_verify_callback(boost::asio::ssl::host_name_verification(host));
  return ok_status();
}

}  // namespace hg::web
