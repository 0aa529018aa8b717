// SPDX-License-Identifier: Apache-2.0
// webauthn/webauthn on arbitrary text: parse_creation_options and parse_request_options (JSON from
// a relying party, i.e. from outside). Oracles, for every input that parses:
//  * the validated bounds hold (rp.id / rpId non-empty, challenge 16..1024 bytes, user.id 1..64
//    bytes, at least one algorithm, non-empty credential IDs, evalByCredential keys in the allow
//    list and never on creation);
//  * prepare() accepts it, and request_for() with Chrome on Android's getInfo and with a bare one
//    gives request bytes that proto/ctap decodes back to the same rp, user, challenge hash,
//    algorithms, exclude / allow IDs, rk / uv per the documented mapping and the same prf input;
//  * creation requests go to the software authenticator (fresh in-memory store): its answer gives
//    PublicKeyCredential JSON whose clientDataJSON is the one prepared, or a ctap.* error.
// The input is also handed to registration_json / assertion_json as a phone's CTAP response.
#include <cstddef>
#include <cstdint>
#include <string>

#include "webauthn/webauthn.hpp"
#include "proto/authenticator.hpp"
#include "proto/crypto.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {
using namespace hg;
namespace wa = hg::webauthn;

constexpr std::string_view kOrigin = "https://example.com";

// The errors of the origin and RP ID rules (webauthn/origin.hpp).
bool origin_rule(const hg::Error& e) {
  return e.code == hg::Errc::origin_invalid || e.code == hg::Errc::origin_insecure ||
         e.code == hg::Errc::rp_id_invalid || e.code == hg::Errc::rp_id_mismatch ||
         e.code == hg::Errc::rp_id_public_suffix;
}

Bytes android_info() { return cbor::encode(ctap::to_cbor(ctap::chrome_android_get_info())); }
Bytes bare_info() {
  ctap::GetInfoResponse g;
  g.versions = {"FIDO_2_0"};
  return cbor::encode(ctap::to_cbor(g));
}

std::vector<Bytes> ids(const std::optional<std::vector<ctap::CredentialDescriptor>>& l) {
  std::vector<Bytes> out;
  if (l)
    for (const auto& d : *l) out.push_back(d.id);
  return out;
}
std::vector<Bytes> ids(const std::vector<ctap::CredentialDescriptor>& l) { return ids(std::optional(l)); }

bool is_ctap_error(const Error& e) { return e.name().substr(0, 5) == "ctap."; }

std::optional<prf::Request> sent_prf(const std::optional<cbor::Map>& ext, bool mc) {
  auto r = prf::request_from_extensions(ext, mc);
  HG_FUZZ_CHECK(r.ok());
  return *r;
}

void creation(std::string_view text) {
  auto o = wa::parse_creation_options(text);
  if (!o) {
    HG_FUZZ_CHECK(o.error().code == Errc::invalid_argument);
    HG_FUZZ_CHECK(!o.error().detail.empty());
    return;
  }
  HG_FUZZ_CHECK(!o->rp.id.empty());
  HG_FUZZ_CHECK(o->challenge.size() >= 16 && o->challenge.size() <= 1024);
  HG_FUZZ_CHECK(!o->user.id.empty() && o->user.id.size() <= 64);
  HG_FUZZ_CHECK(!o->pub_key_cred_params.empty());
  HG_FUZZ_CHECK(o->prf_requested == o->prf.has_value());
  HG_FUZZ_CHECK(!o->prf || o->prf->eval_by_credential.empty());
  for (const auto& d : o->exclude_credentials) HG_FUZZ_CHECK(!d.id.empty() && d.type == ctap::kPublicKeyType);

  // The origin a page of the RP ID's own host would have; fuzzed RP IDs that are no valid domain
  // (or a public suffix) are refused by the origin rules, and only by them.
  const std::string origin = "https://" + o->rp.id;
  auto p = wa::prepare(*o, origin);
  if (!p) {
    HG_FUZZ_CHECK(origin_rule(p.error()));
    return;
  }
  HG_FUZZ_CHECK(p->client_data_json == ctap::client_data_json("webauthn.create", o->challenge, origin));
  for (bool android : {true, false}) {
    bool left_out = false;
    auto bytes = wa::request_for(*p, android ? android_info() : bare_info(), &left_out);
    HG_FUZZ_CHECK(bytes.ok());
    auto r = ctap::decode_make_credential_request(*bytes);
    HG_FUZZ_CHECK(r.ok());
    HG_FUZZ_CHECK(r->client_data_hash == crypto::sha256(as_bytes(p->client_data_json)));
    HG_FUZZ_CHECK(r->rp.id == o->rp.id && r->rp.name == o->rp.name.value_or(o->rp.id));
    HG_FUZZ_CHECK(r->user.id == o->user.id);
    HG_FUZZ_CHECK(r->user.name == o->user.name.value_or(""));
    HG_FUZZ_CHECK(r->pub_key_cred_params == o->pub_key_cred_params);
    HG_FUZZ_CHECK(ids(r->exclude_list) == ids(o->exclude_credentials));
    HG_FUZZ_CHECK(!r->exclude_list || !r->exclude_list->empty());
    const bool rk = o->resident_key == wa::Requirement::required || (android && o->resident_key == wa::Requirement::preferred);
    const bool uv = o->user_verification == wa::Requirement::required ||
                    (android && o->user_verification == wa::Requirement::preferred);
    HG_FUZZ_CHECK(r->options.rk == (rk ? std::optional<bool>(true) : std::nullopt));
    HG_FUZZ_CHECK(r->options.uv == (uv ? std::optional<bool>(true) : std::nullopt));
    HG_FUZZ_CHECK(!r->options.up);
    HG_FUZZ_CHECK(left_out == (o->prf && !android));
    HG_FUZZ_CHECK(sent_prf(r->extensions, true) == (android ? o->prf : std::nullopt));

    if (android) {  // the software authenticator answers; the answer becomes a credential or a ctap.* error
      authenticator::MemoryCredentialStore store;
      authenticator::AlwaysConfirm yes;
      authenticator::Config cfg;
      cfg.attestation = text.size() % 2 ? authenticator::AttestationFormat::packed_self : authenticator::AttestationFormat::none;
      authenticator::SoftwareAuthenticator authn(store, yes, cfg);
      auto cred = wa::registration_json(*p, authn.handle(*bytes));
      if (cred) {
        auto cd = base64url_decode((*cred)["response"]["clientDataJSON"].get<std::string>());
        HG_FUZZ_CHECK(cd.ok() && to_string(*cd) == p->client_data_json);
        HG_FUZZ_CHECK((*cred)["clientExtensionResults"].contains("prf") == o->prf_requested);
      } else {
        HG_FUZZ_CHECK(is_ctap_error(cred.error()));
      }
    }
  }
}

void request(std::string_view text) {
  auto o = wa::parse_request_options(text);
  if (!o) {
    HG_FUZZ_CHECK(o.error().code == Errc::invalid_argument);
    HG_FUZZ_CHECK(!o.error().detail.empty());
    return;
  }
  HG_FUZZ_CHECK(!o->rp_id.empty());
  HG_FUZZ_CHECK(o->challenge.size() >= 16 && o->challenge.size() <= 1024);
  HG_FUZZ_CHECK(o->prf_requested == o->prf.has_value());
  for (const auto& d : o->allow_credentials) HG_FUZZ_CHECK(!d.id.empty() && d.type == ctap::kPublicKeyType);
  if (o->prf) {
    const auto allowed = ids(o->allow_credentials);
    for (const auto& [id, in] : o->prf->eval_by_credential) {
      (void)in;
      HG_FUZZ_CHECK(std::find(allowed.begin(), allowed.end(), id) != allowed.end());
    }
  }

  auto p = wa::prepare(*o, "https://" + o->rp_id);
  if (!p) {
    HG_FUZZ_CHECK(origin_rule(p.error()));
    return;
  }
  for (bool android : {true, false}) {
    bool left_out = false;
    auto bytes = wa::request_for(*p, android ? android_info() : bare_info(), &left_out);
    HG_FUZZ_CHECK(bytes.ok());
    auto r = ctap::decode_get_assertion_request(*bytes);
    HG_FUZZ_CHECK(r.ok());
    HG_FUZZ_CHECK(r->rp_id == o->rp_id);
    HG_FUZZ_CHECK(r->client_data_hash == crypto::sha256(as_bytes(p->client_data_json)));
    HG_FUZZ_CHECK(ids(r->allow_list) == ids(o->allow_credentials));
    HG_FUZZ_CHECK(!r->allow_list || !r->allow_list->empty());
    const bool uv = o->user_verification == wa::Requirement::required ||
                    (android && o->user_verification == wa::Requirement::preferred);
    HG_FUZZ_CHECK(r->options.uv == (uv ? std::optional<bool>(true) : std::nullopt));
    HG_FUZZ_CHECK(!r->options.rk && !r->options.up);
    const bool has_inputs = o->prf && (o->prf->eval || !o->prf->eval_by_credential.empty());
    HG_FUZZ_CHECK(left_out == (has_inputs && !android));
    HG_FUZZ_CHECK(sent_prf(r->extensions, false) == (android && has_inputs ? o->prf : std::nullopt));
  }
}

// The input as a phone's answer to fixed ceremonies.
void responses(ByteView in) {
  static const auto create = [] {
    wa::CreationOptions o;
    o.rp = {"example.com", "Example"};
    o.user = {Bytes(16, 1), "alice", "Alice"};
    o.challenge = Bytes(32, 2);
    o.prf = prf::Request{};
    o.prf_requested = true;
    auto p = wa::prepare(o, kOrigin);
    HG_FUZZ_CHECK(p.ok());
    return *p;
  }();
  static const auto get = [] {
    wa::RequestOptions o;
    o.rp_id = "example.com";
    o.challenge = Bytes(32, 3);
    o.allow_credentials = {{std::string(ctap::kPublicKeyType), Bytes(16, 4), std::nullopt}};
    auto p = wa::prepare(o, kOrigin);
    HG_FUZZ_CHECK(p.ok());
    return *p;
  }();
  if (auto c = wa::registration_json(create, in)) HG_FUZZ_CHECK(c->contains("id"));
  if (auto a = wa::assertion_json(get, in)) HG_FUZZ_CHECK(a->contains("id"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hg::fuzz::as_text(data, size);
  creation(text);
  request(text);
  responses(ByteView(data, size));
  return 0;
}
