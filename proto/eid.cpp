// SPDX-License-Identifier: Apache-2.0
#include "proto/eid.hpp"

#include "proto/crypto.hpp"
#include "proto/domains.hpp"

namespace hg::eid {

Plaintext random_linked_plaintext() {
  Plaintext plain{};
  crypto::random_bytes(plain.data(), plain.size());
  plain[0] = 0;
  if (plain[15] == 0) plain[15] = 1;
  return plain;
}

Plaintext from_components(const Components& c) {
  Plaintext p{};
  p[0] = 0;  // reserved
  std::copy(c.nonce.begin(), c.nonce.end(), p.begin() + 1);
  std::copy(c.routing_id.begin(), c.routing_id.end(), p.begin() + 11);
  p[14] = uint8_t(c.domain_id & 0xff);
  p[15] = uint8_t(c.domain_id >> 8);
  return p;
}

Result<Components> to_components(const Plaintext& p, bool check_domain) {
  if (p[0] != 0) return make_error(Errc::eid_reserved);
  Components c;
  std::copy(p.begin() + 1, p.begin() + 11, c.nonce.begin());
  std::copy(p.begin() + 11, p.begin() + 14, c.routing_id.begin());
  c.domain_id = uint16_t(p[14] | p[15] << 8);
  if (check_domain && !tunnel_domain::valid_id(c.domain_id))
    return make_error(Errc::eid_domain, "domain ID " + std::to_string(c.domain_id));
  return c;
}

Advert encrypt(const Plaintext& p, const EidKey& key) {
  auto ct = crypto::aes256_encrypt_block(ByteView(key.data(), 32), p);
  auto tag = crypto::hmac_sha256(ByteView(key.data() + 32, 32), ct);
  Advert a{};
  std::copy(ct.begin(), ct.end(), a.begin());
  std::copy(tag.begin(), tag.begin() + 4, a.begin() + 16);
  return a;
}

Result<Plaintext> decrypt(ByteView service_data, const EidKey& key, DecryptOptions opts) {
  if (service_data.size() < kAdvertSize) return make_error(Errc::eid_length, std::to_string(service_data.size()) + " bytes");
  ByteView ct = service_data.subspan(0, 16);
  auto tag = crypto::hmac_sha256(ByteView(key.data() + 32, 32), ct);
  if (!ct_equal(ByteView(tag.data(), 4), service_data.subspan(16, 4))) return make_error(Errc::eid_tag);
  Plaintext p = crypto::aes256_decrypt_block(ByteView(key.data(), 32), ct);
  auto c = to_components(p, opts.check_domain);
  if (!c) return c.error();
  return p;
}

}  // namespace hg::eid
