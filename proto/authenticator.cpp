// SPDX-License-Identifier: Apache-2.0
#include "proto/authenticator.hpp"

#include <algorithm>

#include "proto/crypto.hpp"
#include "proto/prf.hpp"

namespace hg::authenticator {

namespace {

using ctap::Command;

constexpr size_t kCredentialIdLen = 16;  // random credential ID; the key itself stays in the store

// Fails with the CTAP status byte `s` (mapped to its Errc so status_for_error recovers it).
Error fail(uint8_t s, std::string detail = {}) {
  Error e = ctap::status_error(s);
  if (!detail.empty()) e.detail += ": " + detail;
  return e;
}

bool same_id(ByteView a, ByteView b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

// The first algorithm of the caller's list (its order of preference) this authenticator offers
// (CTAP 2.1 §6.1.2 step 3), or nullopt.
std::optional<int64_t> choose_alg(const std::vector<ctap::CredentialParameters>& params, bool eddsa) {
  for (const auto& p : params) {
    if (p.type != ctap::kPublicKeyType) continue;
    if (p.alg == ctap::cose::alg_es256 || (eddsa && p.alg == ctap::cose::alg_edDSA)) return p.alg;
  }
  return std::nullopt;
}

// A credential's key pair, ES256 or EdDSA.
class CredentialKey {
 public:
  static CredentialKey generate(int64_t alg) {
    if (alg == ctap::cose::alg_edDSA) return CredentialKey(crypto::Ed25519Key::generate());
    return CredentialKey(crypto::P256Key::generate());
  }
  static std::optional<CredentialKey> load(const CredentialRecord& c) {
    if (c.alg == ctap::cose::alg_edDSA) {
      auto k = crypto::Ed25519Key::from_private(c.private_key.view());
      if (!k) return std::nullopt;
      return CredentialKey(std::move(*k));
    }
    if (c.alg != ctap::cose::alg_es256) return std::nullopt;
    auto k = crypto::P256Key::from_private(c.private_key.view());
    if (!k) return std::nullopt;
    return CredentialKey(std::move(*k));
  }
  int64_t alg() const { return ed_ ? ctap::cose::alg_edDSA : ctap::cose::alg_es256; }
  SecretBytes private_key() const { return ed_ ? ed_->private_seed() : p256_->private_scalar(); }
  cbor::Map cose_public() const {
    return ed_ ? ctap::cose_eddsa_encode(ed_->public_raw()) : ctap::cose_es256_encode(p256_->public_uncompressed());
  }
  // The WebAuthn signature over authData || clientDataHash (§6.3.3 step 11, §8.2 packed):
  // ECDSA-SHA256 (DER) or Ed25519 (64 bytes).
  Bytes sign_over(ByteView auth_data, const ctap::ClientDataHash& cdh) const {
    const Bytes msg = concat({auth_data, cdh});
    return ed_ ? ed_->sign(msg) : p256_->sign_sha256(msg);
  }

 private:
  explicit CredentialKey(crypto::P256Key k) : p256_(std::move(k)) {}
  explicit CredentialKey(crypto::Ed25519Key k) : ed_(std::move(k)) {}
  std::optional<crypto::P256Key> p256_;
  std::optional<crypto::Ed25519Key> ed_;
};

ctap::AuthenticatorData base_auth_data(const std::string& rp_id, uint8_t flags, uint32_t sign_count) {
  ctap::AuthenticatorData ad;
  ad.rp_id_hash = crypto::sha256(as_bytes(rp_id));
  ad.flags = flags;
  ad.sign_count = sign_count;
  return ad;
}

// The credential's PRF key (CTAP's CredRandom): derived from its private key rather than stored
// beside it, so credential files need no new field and every credential supports prf.
SecretBytes cred_random(const CredentialRecord& c) {
  static constexpr std::string_view kInfo = "hybridgate prf credRandom v1";
  return SecretBytes(crypto::hkdf_sha256(c.private_key.view(), {}, as_bytes(kInfo), 32));
}

cbor::Map prf_outputs(const prf::Outputs& o) {
  cbor::Map m;
  m.set("prf", cbor::Value(prf::to_cbor(o)));
  return m;
}

}  // namespace

// ---------------------------------------------------------------- MemoryCredentialStore

Result<std::vector<CredentialRecord>> MemoryCredentialStore::find_by_rp(const std::string& rp_id) {
  std::vector<CredentialRecord> out;
  for (const auto& r : records_)
    if (r.rp_id == rp_id) out.push_back(r);
  return out;
}

Result<std::optional<CredentialRecord>> MemoryCredentialStore::find_by_id(ByteView credential_id) {
  for (const auto& r : records_)
    if (same_id(r.credential_id, credential_id)) return std::optional<CredentialRecord>(r);
  return std::optional<CredentialRecord>{};
}

Status MemoryCredentialStore::add(const CredentialRecord& record) {
  for (const auto& r : records_)
    if (same_id(r.credential_id, record.credential_id))
      return make_error(Errc::invalid_argument, "credential ID already stored");
  records_.push_back(record);
  return ok_status();
}

Status MemoryCredentialStore::remove(ByteView credential_id) {
  std::erase_if(records_, [&](const CredentialRecord& r) { return same_id(r.credential_id, credential_id); });
  return ok_status();
}

Status MemoryCredentialStore::update_sign_count(ByteView credential_id, uint32_t sign_count) {
  for (auto& r : records_) {
    if (same_id(r.credential_id, credential_id)) {
      r.sign_count = sign_count;
      return ok_status();
    }
  }
  return make_error(Errc::invalid_argument, "unknown credential ID");
}

// ---------------------------------------------------------------- SoftwareAuthenticator

SoftwareAuthenticator::SoftwareAuthenticator(CredentialStore& store, UserPresence& presence, Config config)
    : store_(store), presence_(presence), config_(std::move(config)) {}

ctap::GetInfoResponse SoftwareAuthenticator::get_info() const {
  ctap::GetInfoResponse info;
  info.versions = {"FIDO_2_0", "FIDO_2_1"};
  if (config_.prf) info.extensions = std::vector<std::string>{"prf"};
  info.aaguid = config_.aaguid;
  info.options = std::vector<std::pair<std::string, bool>>{{"rk", true}, {"up", true}, {"uv", true}};
  info.transports = std::vector<std::string>{"hybrid", "internal"};
  info.algorithms = std::vector<ctap::CredentialParameters>{{std::string(ctap::kPublicKeyType), ctap::cose::alg_es256}};
  if (config_.eddsa) info.algorithms->push_back({std::string(ctap::kPublicKeyType), ctap::cose::alg_edDSA});
  return info;
}

Bytes SoftwareAuthenticator::get_info_cbor() { return cbor::encode(ctap::to_cbor(get_info())); }

Status SoftwareAuthenticator::confirm(const std::string& rp_id, const std::string& user_name, Operation op) {
  static const std::atomic<bool> never{false};
  const std::atomic<bool>& cancelled = cancelled_ ? *cancelled_ : never;
  const bool yes = presence_.confirm_cancellable(rp_id, user_name, op, cancelled);
  if (cancelled) return fail(ctap::status::keepalive_cancel, "the request was withdrawn");
  if (!yes) return fail(ctap::status::operation_denied);
  return ok_status();
}

Bytes SoftwareAuthenticator::handle(ByteView request, const std::atomic<bool>& cancelled) noexcept {
  cancelled_ = &cancelled;
  struct Reset {
    const std::atomic<bool>*& p;
    ~Reset() { p = nullptr; }
  } reset{cancelled_};
  try {
    auto r = dispatch(request);
    if (r) return std::move(r).value();
    return ctap::encode_response_status(ctap::status_for_error(r.error()));
  } catch (...) {
    // Out of memory or a bug: answer like an authenticator would rather than crash the phone.
    try {
      return ctap::encode_response_status(ctap::status::other);
    } catch (...) {
      return {};
    }
  }
}

Result<Bytes> SoftwareAuthenticator::dispatch(ByteView request) {
  HG_TRY(auto frame, ctap::parse_request_frame(request));
  switch (frame.command) {
    case static_cast<uint8_t>(Command::get_info):
      if (frame.params) return fail(ctap::status::invalid_length, "getInfo takes no parameters");
      return ctap::encode_response(get_info());
    case static_cast<uint8_t>(Command::selection):
      if (frame.params) return fail(ctap::status::invalid_length, "selection takes no parameters");
      return selection();
    case static_cast<uint8_t>(Command::make_credential):
      if (!frame.params) return fail(ctap::status::missing_parameter, "makeCredential without parameters");
      return make_credential(*frame.params);
    case static_cast<uint8_t>(Command::get_assertion):
      if (!frame.params) return fail(ctap::status::missing_parameter, "getAssertion without parameters");
      return get_assertion(*frame.params);
    default:
      return fail(ctap::status::invalid_command);
  }
}

Result<Bytes> SoftwareAuthenticator::selection() {
  HG_CHECK(confirm("", "", Operation::selection));
  return ctap::encode_response_status(ctap::status::ok);
}

Result<bool> SoftwareAuthenticator::excluded(const ctap::MakeCredentialRequest& req) {
  if (!req.exclude_list) return false;
  for (const auto& d : *req.exclude_list) {
    if (d.type != ctap::kPublicKeyType) continue;
    HG_TRY(auto found, store_.find_by_id(d.id));
    if (found && found->rp_id == req.rp.id) return true;
  }
  return false;
}

Result<uint64_t> SoftwareAuthenticator::next_created(const std::string& rp_id) {
  HG_TRY(auto existing, store_.find_by_rp(rp_id));
  uint64_t newest = 0;
  for (const auto& r : existing) newest = std::max(newest, r.created);
  const uint64_t now = config_.now ? config_.now() : 0;
  return std::max(now, newest + 1);
}

Result<Bytes> SoftwareAuthenticator::make_credential(const cbor::Map& params) {
  HG_TRY(auto req, ctap::make_credential_request_from_cbor(params));
  const auto alg = choose_alg(req.pub_key_cred_params, config_.eddsa);
  if (!alg) return fail(ctap::status::unsupported_algorithm);
  // CTAP 2.1 §6.1.2 step 5: makeCredential with up=false is invalid.
  if (req.options.up && !*req.options.up) return fail(ctap::status::invalid_option, "up=false");
  std::optional<prf::Request> prf_request;
  if (config_.prf) {
    HG_TRY(prf_request, prf::request_from_extensions(req.extensions, true));
  }

  const std::string user_name = req.user.name.value_or("");
  HG_TRY(bool is_excluded, excluded(req));
  if (is_excluded) {
    // CTAP 2.1 §6.1.2 step 7: collect presence, then report the exclusion.
    HG_CHECK(confirm(req.rp.id, user_name, Operation::excluded));
    return fail(ctap::status::credential_excluded);
  }
  HG_CHECK(confirm(req.rp.id, user_name, Operation::make_credential));

  const auto key = CredentialKey::generate(*alg);
  CredentialRecord rec;
  rec.credential_id = crypto::random_bytes(kCredentialIdLen);
  rec.rp_id = req.rp.id;
  rec.rp_name = req.rp.name.value_or("");
  rec.user_id = req.user.id;
  rec.user_name = user_name;
  rec.display_name = req.user.display_name.value_or("");
  rec.private_key = key.private_key();
  rec.alg = key.alg();
  rec.sign_count = 0;
  HG_TRY(rec.created, next_created(req.rp.id));
  rec.discoverable = req.options.rk.value_or(false);

  // Flags: user present and verified (the phone's screen lock stands for UV), attested data.
  auto ad = base_auth_data(req.rp.id, ctap::flags::up | ctap::flags::uv, rec.sign_count);
  ad.attested = ctap::AttestedCredentialData{config_.aaguid, rec.credential_id, key.cose_public()};
  const Bytes auth_data = ad.encode();

  ctap::MakeCredentialResponse resp;
  resp.auth_data = auth_data;
  if (config_.attestation == AttestationFormat::packed_self) {
    resp.fmt = "packed";
    resp.att_stmt.set("alg", cbor::Value(key.alg()));
    resp.att_stmt.set("sig", key.sign_over(auth_data, req.client_data_hash));
  } else {
    resp.fmt = "none";
  }
  if (prf_request) {  // the phone's screen lock verified the user: prf is enabled, eval answered
    prf::Outputs out;
    out.enabled = true;
    if (prf_request->eval) out.results = prf::evaluate(cred_random(rec).view(), *prf_request->eval);
    resp.unsigned_extension_outputs = prf_outputs(out);
  }

  // A new discoverable credential replaces older discoverable ones for the same account
  // (CTAP 2.1 §6.1.2 step 17). Add first so a failed write loses nothing.
  HG_TRY(auto same_rp, store_.find_by_rp(req.rp.id));
  // A store held by another process is not a full one: CTAP1_ERR_OTHER, not KEY_STORE_FULL (the
  // phone's own caller learns the reason from its store).
  if (auto st = store_.add(rec); !st)
    return fail(st.error().code == Errc::store_locked ? ctap::status::other : ctap::status::key_store_full,
                st.error().to_string());
  if (rec.discoverable) {
    for (const auto& old : same_rp)
      if (old.discoverable && old.user_id == rec.user_id) HG_CHECK(store_.remove(old.credential_id));
  }
  return ctap::encode_response(resp);
}

Result<std::vector<CredentialRecord>> SoftwareAuthenticator::assertion_candidates(const ctap::GetAssertionRequest& req) {
  std::vector<CredentialRecord> out;
  if (req.allow_list && !req.allow_list->empty()) {
    for (const auto& d : *req.allow_list) {
      if (d.type != ctap::kPublicKeyType) continue;
      HG_TRY(auto found, store_.find_by_id(d.id));
      if (found && found->rp_id == req.rp_id) out.push_back(std::move(*found));
    }
    return out;
  }
  HG_TRY(auto all, store_.find_by_rp(req.rp_id));
  for (auto& r : all)
    if (r.discoverable) out.push_back(std::move(r));
  // Most recent first.
  std::stable_sort(out.begin(), out.end(),
                   [](const CredentialRecord& a, const CredentialRecord& b) { return a.created > b.created; });
  return out;
}

Result<Bytes> SoftwareAuthenticator::get_assertion(const cbor::Map& params) {
  HG_TRY(auto req, ctap::get_assertion_request_from_cbor(params));
  // CTAP 2.1 §6.2.2 step 5: the rk option is not valid for getAssertion.
  if (req.options.rk) return fail(ctap::status::unsupported_option, "rk in getAssertion");
  std::optional<prf::Request> prf_request;
  if (config_.prf) {
    HG_TRY(prf_request, prf::request_from_extensions(req.extensions, false));
  }
  const bool from_allow_list = req.allow_list && !req.allow_list->empty();
  const bool want_presence = req.options.up.value_or(true);

  HG_TRY(auto candidates, assertion_candidates(req));
  if (candidates.empty()) return fail(ctap::status::no_credentials);
  size_t chosen = 0;
  if (!from_allow_list && candidates.size() > 1) {
    // The person picks the account on the phone, as phones do (CTAP 2.1 userSelected).
    static const std::atomic<bool> never{false};
    const std::atomic<bool>& cancelled = cancelled_ ? *cancelled_ : never;
    std::vector<std::string> accounts;
    for (const auto& c : candidates)
      accounts.push_back(c.display_name.empty() || c.display_name == c.user_name
                             ? c.user_name
                             : c.user_name + " (" + c.display_name + ")");
    auto pick = presence_.choose_account(req.rp_id, accounts, cancelled);
    if (cancelled) return fail(ctap::status::keepalive_cancel, "the request was withdrawn");
    if (!pick || *pick >= candidates.size()) return fail(ctap::status::operation_denied, "no account chosen");
    chosen = *pick;
  }
  CredentialRecord& cred = candidates[chosen];

  uint8_t fl = 0;
  if (want_presence) {
    HG_CHECK(confirm(req.rp_id, cred.user_name, Operation::get_assertion));
    fl = ctap::flags::up | ctap::flags::uv;
  }

  const auto key = CredentialKey::load(cred);
  if (!key) return fail(ctap::status::other, "stored key is invalid");

  // The counter increases on every assertion and is persisted before the signature leaves.
  if (cred.sign_count == UINT32_MAX) return fail(ctap::status::other, "signature counter exhausted");
  const uint32_t count = cred.sign_count + 1;
  if (auto st = store_.update_sign_count(cred.credential_id, count); !st)
    return fail(ctap::status::other, st.error().to_string());

  const Bytes auth_data = base_auth_data(req.rp_id, fl, count).encode();
  ctap::GetAssertionResponse resp;
  resp.credential = ctap::CredentialDescriptor{std::string(ctap::kPublicKeyType), cred.credential_id, std::nullopt};
  resp.auth_data = auth_data;
  resp.signature = key->sign_over(auth_data, req.client_data_hash);
  if (!from_allow_list) {
    // Chosen from the discoverable credentials: return the account and say the user picked it.
    resp.user = ctap::UserEntity{cred.user_id, cred.user_name, cred.display_name};
    resp.user_selected = true;
  } else if (cred.discoverable) {
    resp.user = ctap::UserEntity{cred.user_id, std::nullopt, std::nullopt};  // the userHandle only
  }
  // PRF outputs only for a verified user (a silent up=false assertion gets none), from the
  // credential's evalByCredential entry or else eval.
  if (prf_request && (fl & ctap::flags::uv)) {
    if (const prf::Input* in = prf_request->input_for(cred.credential_id)) {
      prf::Outputs out;
      out.results = prf::evaluate(cred_random(cred).view(), *in);
      resp.unsigned_extension_outputs = prf_outputs(out);
    }
  }
  return ctap::encode_response(resp);
}

}  // namespace hg::authenticator
