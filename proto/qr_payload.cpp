// SPDX-License-Identifier: Apache-2.0
#include "proto/qr_payload.hpp"

#include "proto/cbor.hpp"
#include "proto/digits.hpp"

namespace hg::qr_payload {

std::string_view to_string(RequestType t) {
  switch (t) {
    case RequestType::make_credential: return "mc";
    case RequestType::dc_presentation: return "dcp";
    case RequestType::get_assertion: break;
  }
  return "ga";
}

RequestType request_type_from_string(std::string_view s) {
  if (s == "mc") return RequestType::make_credential;
  if (s == "dcp") return RequestType::dc_presentation;
  return RequestType::get_assertion;
}

Bytes encode_cbor(const Payload& p) {
  cbor::Map m;
  m.set(0u, cbor::Value(p.public_key));
  m.set(1u, cbor::Value(p.secret));
  if (p.known_domains) m.set(2u, *p.known_domains);
  if (p.timestamp) m.set(3u, *p.timestamp);
  if (p.supports_linking) m.set(4u, *p.supports_linking);
  if (p.request_type) m.set(5u, *p.request_type);
  cbor::Value v(std::move(m));
  Bytes out = cbor::encode(v);
  return out;
}

std::string encode_url(const Payload& p) {
  Bytes c = encode_cbor(p);
  std::string url = std::string(kPrefix) + digits::encode(c);
  secure_wipe(c);
  return url;
}

Result<Payload> parse_cbor(ByteView bytes) {
  auto v = cbor::decode(bytes, cbor::DecodeOptions{.max_size = 4096});
  if (!v) return make_error(Errc::qr_cbor, std::string(v.error().name()) + ": " + v.error().detail);
  if (!v->is_map()) return make_error(Errc::qr_cbor, "payload is not a CBOR map");
  const cbor::Map& m = v->as_map();
  const cbor::Value* k0 = m.find(0u);
  const cbor::Value* k1 = m.find(1u);
  if (!k0 || !k1) return make_error(Errc::qr_missing_key, !k0 ? "key 0" : "key 1");
  if (!k0->is_bytes() || !k1->is_bytes()) return make_error(Errc::qr_bad_field, "keys 0 and 1 must be byte strings");
  if (k1->as_bytes().size() != 16) return make_error(Errc::qr_bad_secret);
  if (k0->as_bytes().size() != 33) return make_error(Errc::qr_bad_key, "public key must be 33 bytes (compressed)");
  if (!crypto::P256Public::parse(k0->as_bytes())) return make_error(Errc::qr_bad_key);
  Payload p;
  std::copy(k0->as_bytes().begin(), k0->as_bytes().end(), p.public_key.begin());
  std::copy(k1->as_bytes().begin(), k1->as_bytes().end(), p.secret.begin());
  if (const cbor::Value* k2 = m.find(2u)) {
    if (!k2->is_unsigned()) return make_error(Errc::qr_bad_field, "key 2 must be an unsigned integer");
    p.known_domains = k2->as_unsigned();
  }
  if (const cbor::Value* k3 = m.find(3u); k3 && k3->is_unsigned()) p.timestamp = k3->as_unsigned();
  if (const cbor::Value* k4 = m.find(4u)) {
    if (!k4->is_bool()) return make_error(Errc::qr_bad_field, "key 4 must be a bool");
    p.supports_linking = k4->as_bool();
  }
  if (const cbor::Value* k5 = m.find(5u)) {
    if (!k5->is_text()) return make_error(Errc::qr_bad_field, "key 5 must be a text string");
    p.request_type = k5->as_text();
  }
  return p;
}

Result<Payload> parse_url(std::string_view url) {
  if (url.size() < kPrefix.size()) return make_error(Errc::qr_prefix);
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    char c = url[i];
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
    if (c != kPrefix[i]) return make_error(Errc::qr_prefix);
  }
  std::string_view d = url.substr(kPrefix.size());
  if (d.empty()) return make_error(Errc::qr_empty);
  if (d.size() > 4096) return make_error(Errc::qr_cbor, "payload too long");
  auto bytes = digits::decode(d);
  if (!bytes) return bytes.error();
  auto p = parse_cbor(*bytes);
  secure_wipe(*bytes);
  return p;
}

DesktopQr generate(const GenerateOptions& opts) {
  DesktopQr q{crypto::P256Key::generate(), Payload{}, {}};
  q.payload.public_key = q.identity.public_compressed();
  crypto::random_bytes(q.payload.secret.data(), q.payload.secret.size());
  q.payload.known_domains = opts.known_domains;
  if (opts.timestamp) q.payload.timestamp = opts.timestamp;
  q.payload.supports_linking = opts.supports_linking;
  q.payload.request_type = std::string(to_string(opts.request_type));
  q.url = encode_url(q.payload);
  return q;
}

}  // namespace hg::qr_payload

