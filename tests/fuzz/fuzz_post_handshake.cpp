// SPDX-License-Identifier: Apache-2.0
// Messages after the handshake, on arbitrary bytes: decode_post_handshake (revisions 1 and 0),
// decode_padded_cbor_map, decode_update, parse_linking_map (on every map the input decodes to),
// decode_client_payload and parse_client_payload_header. Every successful parse is re-encoded
// and parsed again, and must give the same value.
#include <cstddef>
#include <cstdint>

#include "proto/cbor.hpp"
#include "proto/crypter.hpp"
#include "proto/messages.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
using namespace hg;

bool same_linking(const messages::LinkingInfo& a, const messages::LinkingInfo& b) {
  return a.contact_id == b.contact_id && a.pairing_id == b.pairing_id && a.link_secret.bytes() == b.link_secret.bytes() &&
         a.identity_public_key == b.identity_public_key && a.name == b.name && a.signature == b.signature &&
         a.from_new_implementation == b.from_new_implementation;
}

void linking(const cbor::Map& m) {
  auto l = messages::parse_linking_map(m);
  if (!l) return;
  auto again = messages::parse_linking_map(messages::encode_linking_map(*l));
  HG_FUZZ_CHECK(again.ok() && same_linking(*l, *again));
  // Inside an update message it survives the frame encoding too.
  const Bytes frame = messages::encode_update_frame(*l);
  auto f = decode_frame(frame);
  HG_FUZZ_CHECK(f.ok() && f->type == MessageType::update);
  auto u = messages::decode_update(f->payload);
  HG_FUZZ_CHECK(u.ok() && u->has_value() && same_linking(*l, **u));
}

bool same_client_payload(const messages::ClientPayload& a, const messages::ClientPayload& b) {
  return a.pairing_id == b.pairing_id && a.client_nonce == b.client_nonce && a.hint == b.hint;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in(data, size);

  if (auto ph = messages::decode_post_handshake(in)) {
    HG_FUZZ_CHECK(ph->revision == 0 || ph->revision == 1);
    const auto& m = ph->message;
    if (m.supports_ctap()) HG_FUZZ_CHECK(m.get_info.has_value());
    if (m.linking) linking(*m.linking);
    if (m.get_info && m.supports_ctap()) {
      auto again = messages::decode_post_handshake(messages::encode_post_handshake(*m.get_info));
      HG_FUZZ_CHECK(again.ok() && again->revision == 1 && again->message.get_info == m.get_info);
    }
  }

  if (auto m = messages::decode_padded_cbor_map(in)) {
    linking(*m);
    for (const Bytes& enc : {messages::encode_padded_cbor_map(*m), messages::encode_padded_cbor_map_old(*m)}) {
      auto again = messages::decode_padded_cbor_map(enc);
      HG_FUZZ_CHECK(again.ok() && *again == *m);
    }
  }

  if (auto u = messages::decode_update(in)) {
    if (u->has_value()) {
      const Bytes frame = messages::encode_update_frame(**u);
      auto again = messages::decode_update(ByteView(frame).subspan(1));
      HG_FUZZ_CHECK(again.ok() && again->has_value() && same_linking(**u, **again));
    }
  }

  // The linking map on its own (lenient CBOR, as decode_update reads it).
  if (auto v = cbor::decode(in, cbor::DecodeOptions{.max_size = 65536, .canonical = false}); v && v->is_map())
    linking(v->as_map());

  if (auto cp = messages::decode_client_payload(in)) {
    auto again = messages::decode_client_payload(messages::encode_client_payload(*cp));
    HG_FUZZ_CHECK(again.ok() && same_client_payload(*cp, *again));
    auto hdr = messages::parse_client_payload_header(messages::client_payload_header(*cp));
    HG_FUZZ_CHECK(hdr.ok() && same_client_payload(*cp, *hdr));
  }
  if (auto cp = messages::parse_client_payload_header(fuzz::as_text(data, size))) {
    auto again = messages::parse_client_payload_header(messages::client_payload_header(*cp));
    HG_FUZZ_CHECK(again.ok() && same_client_payload(*cp, *again));
  }
  return 0;
}
