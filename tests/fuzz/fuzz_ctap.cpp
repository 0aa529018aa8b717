// SPDX-License-Identifier: Apache-2.0
// CTAP2 codecs and the software authenticator on arbitrary bytes:
//  * request side: parse_request_frame, decode_make_credential_request, decode_get_assertion_request,
//    and every map decoder (requests, responses, COSE key) applied to the parameter map;
//  * response side: parse_response_frame, parse_response, decode_*_response, decode_get_info;
//  * AuthenticatorData::parse of the input;
//  * SoftwareAuthenticator::handle(cmd || CBOR) on a fresh in-memory store holding one fixed
//    discoverable credential; the answer must be a well-formed CTAP response, never 0x7F
//    (CTAP1_ERR_OTHER, which handle() also uses for a caught exception).
// Every decoded value is re-encoded, decoded again and must re-encode identically.
#include <cstddef>
#include <cstdint>

#include "proto/authenticator.hpp"
#include "proto/cbor.hpp"
#include "proto/ctap.hpp"
#include "proto/prf.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
using namespace hg;

// decode(to_cbor(x)) succeeds and encodes to the same bytes as x.
template <typename T, typename Decode>
void idempotent(const T& x, Decode decode) {
  const Bytes first = cbor::encode(ctap::to_cbor(x));
  auto again = decode(ctap::to_cbor(x));
  HG_FUZZ_CHECK(again.ok());
  HG_FUZZ_CHECK(cbor::encode(ctap::to_cbor(*again)) == first);
}

void auth_data(ByteView raw) {
  auto ad = ctap::AuthenticatorData::parse(raw);
  if (!ad) return;
  (void)ad->user_present();
  (void)ad->user_verified();
  const Bytes enc = ad->encode();
  auto again = ctap::AuthenticatorData::parse(enc);
  HG_FUZZ_CHECK(again.ok());
  HG_FUZZ_CHECK(again->encode() == enc);
  HG_FUZZ_CHECK(enc.size() >= 37);
}

// The prf extension on any map taken as an extensions map / unsigned outputs: what parses
// re-encodes to the same request, and decodes again identically.
void prf_decoders(const cbor::Map& m) {
  for (bool mc : {false, true}) {
    auto r = prf::request_from_extensions(m, mc);
    if (!r || !r->has_value()) continue;
    cbor::Map ext;
    ext.set("prf", cbor::Value(prf::to_cbor(**r)));
    auto again = prf::request_from_extensions(ext, mc);
    HG_FUZZ_CHECK(again.ok() && again->has_value() && **again == **r);
    HG_FUZZ_CHECK(!mc || (*r)->eval_by_credential.empty());
  }
  if (auto o = prf::outputs_from_unsigned(m); o && o->has_value()) {
    cbor::Map un;
    un.set("prf", cbor::Value(prf::to_cbor(**o)));
    auto again = prf::outputs_from_unsigned(un);
    HG_FUZZ_CHECK(again.ok() && again->has_value() && **again == **o);
  }
}

void map_decoders(const cbor::Map& m) {
  prf_decoders(m);
  if (const auto* ext = m.find(uint64_t{4}); ext && ext->is_map()) prf_decoders(ext->as_map());  // getAssertion
  if (const auto* ext = m.find(uint64_t{6}); ext && ext->is_map()) prf_decoders(ext->as_map());  // makeCredential
  if (const auto* ext = m.find(uint64_t{8}); ext && ext->is_map()) prf_decoders(ext->as_map());  // outputs
  if (auto r = ctap::make_credential_request_from_cbor(m)) idempotent(*r, ctap::make_credential_request_from_cbor);
  if (auto r = ctap::get_assertion_request_from_cbor(m)) idempotent(*r, ctap::get_assertion_request_from_cbor);
  if (auto r = ctap::make_credential_response_from_cbor(m)) {
    idempotent(*r, ctap::make_credential_response_from_cbor);
    (void)ctap::attestation_object(*r);
    auth_data(r->auth_data);
  }
  if (auto r = ctap::get_assertion_response_from_cbor(m)) {
    idempotent(*r, ctap::get_assertion_response_from_cbor);
    auth_data(r->auth_data);
  }
  if (auto r = ctap::get_info_response_from_cbor(m)) {
    idempotent(*r, ctap::get_info_response_from_cbor);
    (void)r->option("rk");
  }
  if (auto k = ctap::cose_es256_parse(m)) {
    auto again = ctap::cose_es256_parse(ctap::cose_es256_encode(k->uncompressed()));
    HG_FUZZ_CHECK(again.ok() && again->uncompressed() == k->uncompressed());
  }
}

class DenyOdd final : public authenticator::UserPresence {
 public:
  explicit DenyOdd(bool deny) : deny_(deny) {}
  bool confirm(const std::string&, const std::string&, authenticator::Operation) override { return !deny_; }

 private:
  bool deny_;
};

void check_response(ByteView request, ByteView response) {
  HG_FUZZ_CHECK(!response.empty());
  if (response[0] == ctap::status::other) {
    std::fprintf(stderr, "authenticator answered CTAP1_ERR_OTHER\n");
    HG_FUZZ_CHECK(response[0] != ctap::status::other);
  }
  auto f = ctap::parse_response_frame(response);
  HG_FUZZ_CHECK(f.ok());
  if (f->status != ctap::status::ok) {
    HG_FUZZ_CHECK(response.size() == 1);
    HG_FUZZ_CHECK(ctap::status_name(f->status) != "CTAP_STATUS_UNKNOWN");
    return;
  }
  if (f->body) HG_FUZZ_CHECK(cbor::encode(*f->body) == Bytes(response.begin() + 1, response.end()));  // canonical
  switch (request[0]) {
    case 0x01: {
      auto r = ctap::decode_make_credential_response(response);
      HG_FUZZ_CHECK(r.ok());
      auto ad = ctap::AuthenticatorData::parse(r->auth_data);
      HG_FUZZ_CHECK(ad.ok() && ad->attested.has_value());
      break;
    }
    case 0x02: {
      auto r = ctap::decode_get_assertion_response(response);
      HG_FUZZ_CHECK(r.ok());
      HG_FUZZ_CHECK(ctap::AuthenticatorData::parse(r->auth_data).ok());
      break;
    }
    case 0x04:
      HG_FUZZ_CHECK(ctap::decode_get_info_response(response).ok());
      break;
    case 0x0B:
      HG_FUZZ_CHECK(response.size() == 1);
      break;
    default:
      HG_FUZZ_CHECK(false && "success for an unknown command");
  }
}

void authenticator_run(ByteView request) {
  authenticator::MemoryCredentialStore store;
  authenticator::CredentialRecord rec;
  rec.credential_id = Bytes{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  rec.rp_id = "example.com";
  rec.rp_name = "Example";
  rec.user_id = Bytes{1, 2, 3, 4};
  rec.user_name = "alice";
  rec.display_name = "Alice";
  rec.private_key = SecretBytes(fuzz::unhex(fuzz::kn::kDesktopIdentityPriv));
  rec.created = 1;
  rec.discoverable = true;
  HG_FUZZ_CHECK(store.add(rec).ok());

  // Vary the configuration with the input length so both attestation formats and a user who
  // declines are reached; the choice is a function of the input (deterministic).
  DenyOdd presence(request.size() % 3 == 2);
  authenticator::Config config;
  config.attestation = request.size() % 2 ? authenticator::AttestationFormat::packed_self : authenticator::AttestationFormat::none;
  authenticator::SoftwareAuthenticator auth(store, presence, config);

  const Bytes response = auth.handle(request);
  if (request.empty()) {
    HG_FUZZ_CHECK(response.size() == 1 && response[0] != ctap::status::ok);
    return;
  }
  check_response(request, response);

  // A new credential must be usable at once: sign in with it (by allowList, and as a
  // discoverable credential when it was made with rk).
  if (request[0] == 0x01 && response[0] == ctap::status::ok) {
    auto mc = ctap::decode_make_credential_request(request);
    auto resp = ctap::decode_make_credential_response(response);
    HG_FUZZ_CHECK(mc.ok() && resp.ok());
    auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
    HG_FUZZ_CHECK(ad.ok() && ad->attested);
    ctap::GetAssertionRequest ga;
    ga.rp_id = mc->rp.id;
    ga.client_data_hash = mc->client_data_hash;
    ga.allow_list = std::vector<ctap::CredentialDescriptor>{{std::string(ctap::kPublicKeyType), ad->attested->credential_id, std::nullopt}};
    const Bytes ga_req = ctap::encode_request(ga);
    const Bytes ga_resp = auth.handle(ga_req);
    check_response(ga_req, ga_resp);
    HG_FUZZ_CHECK(ga_resp[0] == (presence.confirm("", "", authenticator::Operation::get_assertion) ? ctap::status::ok
                                                                                                    : ctap::status::operation_denied));
    if (ga_resp[0] == ctap::status::ok) {
      auto gr = ctap::decode_get_assertion_response(ga_resp);
      HG_FUZZ_CHECK(gr.ok() && gr->credential && gr->credential->id == ad->attested->credential_id);
      auto pub = ctap::cose_es256_parse(ad->attested->public_key);
      HG_FUZZ_CHECK(pub.ok());
      HG_FUZZ_CHECK(pub->verify_sha256(concat({gr->auth_data, ga.client_data_hash}), gr->signature));
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ByteView in(data, size);

  if (auto f = ctap::parse_request_frame(in)) {
    if (f->params) map_decoders(*f->params);
  }
  if (auto r = ctap::decode_make_credential_request(in)) {
    const Bytes enc = ctap::encode_request(*r);
    auto again = ctap::decode_make_credential_request(enc);
    HG_FUZZ_CHECK(again.ok() && ctap::encode_request(*again) == enc);
  }
  if (auto r = ctap::decode_get_assertion_request(in)) {
    const Bytes enc = ctap::encode_request(*r);
    auto again = ctap::decode_get_assertion_request(enc);
    HG_FUZZ_CHECK(again.ok() && ctap::encode_request(*again) == enc);
  }

  if (auto f = ctap::parse_response_frame(in)) {
    (void)ctap::status_name(f->status);
    (void)ctap::status_sentence(f->status);
    if (f->status != ctap::status::ok) {
      const Error e = ctap::status_error(f->status);
      HG_FUZZ_CHECK(ctap::status_for_error(e) == f->status);
    }
  }
  (void)ctap::parse_response(in);
  if (auto r = ctap::decode_make_credential_response(in)) {
    auto again = ctap::decode_make_credential_response(ctap::encode_response(*r));
    HG_FUZZ_CHECK(again.ok());
  }
  if (auto r = ctap::decode_get_assertion_response(in)) {
    auto again = ctap::decode_get_assertion_response(ctap::encode_response(*r));
    HG_FUZZ_CHECK(again.ok());
  }
  if (auto r = ctap::decode_get_info_response(in)) {
    auto again = ctap::decode_get_info_response(ctap::encode_response(*r));
    HG_FUZZ_CHECK(again.ok());
  }
  (void)ctap::decode_get_info(in);
  auth_data(in);

  authenticator_run(in);
  return 0;
}
