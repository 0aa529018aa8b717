// SPDX-License-Identifier: Apache-2.0
// messages::parse_wakeup on arbitrary text (what a phone's listen connection receives from the
// relay). A parsed wake-up re-encodes with encode_wakeup to JSON that parses to the same value.
#include <cstddef>
#include <cstdint>

#include "proto/messages.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hg;
  auto w = messages::parse_wakeup(fuzz::as_text(data, size));
  if (!w) return 0;
  HG_FUZZ_CHECK(size <= messages::kMaxWakeUpSize);
  const std::string again =
      messages::encode_wakeup(w->tunnel_id, w->routing_id, messages::encode_client_payload(w->payload));
  auto v = messages::parse_wakeup(again);
  HG_FUZZ_CHECK(v.ok());
  HG_FUZZ_CHECK(v->tunnel_id == w->tunnel_id && v->routing_id == w->routing_id);
  HG_FUZZ_CHECK(v->payload.pairing_id == w->payload.pairing_id && v->payload.client_nonce == w->payload.client_nonce &&
                v->payload.hint == w->payload.hint);
  return 0;
}
