// SPDX-License-Identifier: Apache-2.0
#include "proto/authenticator.hpp"

#include <algorithm>

#include "proto/crypto.hpp"
#include "proto/pin_protocol.hpp"
#include "proto/prf.hpp"

namespace hg::authenticator {

namespace {

using ctap::Command;

constexpr size_t kCredentialIdLen = 16;  // random credential ID; the key itself stays in the store

// clientPIN (CTAP 2.1 §6.5).
constexpr uint8_t kMaxPinRetries = 8;
constexpr unsigned kMaxConsecutiveWrong = 3;  // then a power cycle (a restart) is needed
constexpr uint32_t kMinPinLength = 4;         // Unicode code points
constexpr uint8_t kPermMakeCredential = 0x01, kPermGetAssertion = 0x02;
namespace pin_sub {
constexpr uint64_t get_pin_retries = 0x01, get_key_agreement = 0x02, set_pin = 0x03, change_pin = 0x04,
                   get_pin_token = 0x05, get_token_using_uv = 0x06, get_uv_retries = 0x07,
                   get_token_with_permissions = 0x09;
}
namespace pin_key {  // the request's parameters
constexpr uint64_t protocol = 1, subcommand = 2, key_agreement = 3, pin_uv_auth_param = 4, new_pin_enc = 5,
                   pin_hash_enc = 6, permissions = 9, rp_id = 10;
}

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
    : store_(store), presence_(presence), config_(std::move(config)), key_agreement_(crypto::P256Key::generate()) {}

ctap::GetInfoResponse SoftwareAuthenticator::get_info() {
  ctap::GetInfoResponse info;
  info.versions = {"FIDO_2_0", "FIDO_2_1"};
  if (config_.prf) info.extensions = std::vector<std::string>{"prf"};
  info.aaguid = config_.aaguid;
  // A store that cannot be read says "no PIN": nothing is claimed that is not known.
  auto set = pin_is_set();
  const bool pin_set = set && *set;
  const bool uv = pin_set || config_.test_assume_verified;
  info.options = std::vector<std::pair<std::string, bool>>{{"rk", true},
                                                           {"up", true},
                                                           {"uv", uv},
                                                           {"clientPin", pin_set},
                                                           {"pinUvAuthToken", true},
                                                           {"makeCredUvNotRqd", true}};
  info.other.set(cbor::Value(uint64_t{6}), cbor::Value(cbor::Array{cbor::Value(pin_protocol::kVersion2),
                                                                    cbor::Value(pin_protocol::kVersion1)}));
  info.other.set(cbor::Value(uint64_t{0x0D}), cbor::Value(uint64_t{kMinPinLength}));
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
    case static_cast<uint8_t>(Command::client_pin):
      if (!frame.params) return fail(ctap::status::missing_parameter, "clientPIN without parameters");
      return client_pin(*frame.params);
    default:
      return fail(ctap::status::invalid_command);
  }
}

// ---------------------------------------------------------------- clientPIN (CTAP 2.1 §6.5)

namespace {

// The value of integer key `k`, or nullptr; a present value of another type fails.
Result<const cbor::Value*> param(const cbor::Map& m, uint64_t k, cbor::Type t) {
  const cbor::Value* v = m.find(k);
  if (v && v->type() != t) return fail(ctap::status::cbor_unexpected_type, "parameter " + std::to_string(k));
  return v;
}

// The PIN in a 64-byte paddedNewPin: the bytes before the first zero.
Result<Bytes> unpad_pin(ByteView padded) {
  if (padded.size() != 64) return fail(ctap::status::invalid_parameter, "paddedNewPin is not 64 bytes");
  const auto end = std::find(padded.begin(), padded.end(), uint8_t{0});
  if (end == padded.end()) return fail(ctap::status::pin_policy_violation, "PIN longer than 63 bytes");
  return Bytes(padded.begin(), end);
}

size_t code_points(ByteView utf8) {
  return static_cast<size_t>(std::count_if(utf8.begin(), utf8.end(), [](uint8_t b) { return (b & 0xC0) != 0x80; }));
}

}  // namespace

Result<bool> SoftwareAuthenticator::pin_is_set() {
  HG_TRY(auto rec, store_.pin());
  return rec.has_value();
}

Result<PinRecord> SoftwareAuthenticator::new_pin_record(ByteView padded_pin) {
  HG_TRY(Bytes pin, unpad_pin(padded_pin));
  SecretBytes secret_pin(std::move(pin));
  return make_pin_record(secret_pin);
}

Status SoftwareAuthenticator::set_pin(ByteView new_pin, std::optional<ByteView> current) {
  if (new_pin.size() > 63) return fail(ctap::status::pin_policy_violation, "PIN longer than 63 bytes");
  if (std::find(new_pin.begin(), new_pin.end(), uint8_t{0}) != new_pin.end())
    return fail(ctap::status::pin_policy_violation, "a PIN cannot contain a zero byte");
  HG_TRY(auto rec, store_.pin());
  if (rec) {
    if (!current) return fail(ctap::status::not_allowed, "a PIN is set already: give the current one to change it");
    auto hash = pin_protocol::pin_hash(*current);
    Status st = check_pin_hash(hash);
    secure_wipe(hash);
    HG_CHECK(st);
  }
  HG_TRY(PinRecord fresh, make_pin_record(SecretBytes(new_pin)));
  if (auto st = store_.set_pin(fresh); !st) return fail(ctap::status::other, st.error().to_string());
  token_ = SecretBytes();
  token_permissions_ = 0;
  token_rp_id_.reset();
  return ok_status();
}

Result<PinRecord> SoftwareAuthenticator::make_pin_record(const SecretBytes& secret_pin) {
  const size_t length = code_points(secret_pin.view());
  if (length < kMinPinLength) return fail(ctap::status::pin_policy_violation, "PIN shorter than 4 characters");
  PinRecord rec;
  rec.salt = crypto::random_bytes(16);
  rec.kdf = config_.pin_kdf;
  auto hash = pin_protocol::pin_hash(secret_pin.view());
  auto verifier = crypto::scrypt(hash, rec.salt, rec.kdf, 32);
  secure_wipe(hash);
  if (!verifier) return fail(ctap::status::other, verifier.error().to_string());
  rec.verifier = Bytes(verifier->view().begin(), verifier->view().end());
  rec.retries = kMaxPinRetries;
  rec.length = static_cast<uint32_t>(length);
  return rec;
}

Status SoftwareAuthenticator::check_pin_hash(ByteView hash16) {
  HG_TRY(auto rec, store_.pin());
  if (!rec) return fail(ctap::status::pin_not_set);
  if (rec->retries == 0) return fail(ctap::status::pin_blocked);
  if (consecutive_wrong_ >= kMaxConsecutiveWrong) return fail(ctap::status::pin_auth_blocked);
  // Counted before the check and written first: stopping the phone mid-check gives no free try.
  rec->retries -= 1;
  if (auto st = store_.set_pin(*rec); !st) return fail(ctap::status::other, st.error().to_string());
  auto v = crypto::scrypt(hash16, rec->salt, rec->kdf, 32);
  if (!v) return fail(ctap::status::other, v.error().to_string());
  if (hash16.size() == 16 && ct_equal(v->view(), rec->verifier)) {
    rec->retries = kMaxPinRetries;
    consecutive_wrong_ = 0;
    if (auto st = store_.set_pin(*rec); !st) return fail(ctap::status::other, st.error().to_string());
    return ok_status();
  }
  ++consecutive_wrong_;
  key_agreement_ = crypto::P256Key::generate();  // §6.5.5.7.2: a new key agreement key after a wrong PIN
  if (rec->retries == 0) return fail(ctap::status::pin_blocked);
  if (consecutive_wrong_ >= kMaxConsecutiveWrong) return fail(ctap::status::pin_auth_blocked);
  return fail(ctap::status::pin_invalid);
}

Status SoftwareAuthenticator::check_pin_hash_enc(uint64_t version, const SecretBytes& shared, const cbor::Map& params) {
  HG_TRY(const cbor::Value* enc, param(params, pin_key::pin_hash_enc, cbor::Type::Bytes));
  if (!enc) return fail(ctap::status::missing_parameter, "pinHashEnc");
  auto hash = pin_protocol::decrypt(version, shared, enc->as_bytes());
  if (!hash || hash->size() != 16) {
    // Not a PIN hash: counted like a wrong PIN (as the spec's comparison would).
    const uint8_t junk[1] = {0};
    return check_pin_hash(ByteView(junk, 1));
  }
  return check_pin_hash(hash->view());
}

Result<Bytes> SoftwareAuthenticator::client_pin(const cbor::Map& params) {
  HG_TRY(const cbor::Value* sub, param(params, pin_key::subcommand, cbor::Type::Unsigned));
  HG_TRY(const cbor::Value* proto, param(params, pin_key::protocol, cbor::Type::Unsigned));
  if (!sub) return fail(ctap::status::missing_parameter, "subCommand");
  const uint64_t subcommand = sub->as_unsigned();
  if (subcommand == pin_sub::get_pin_retries) {
    HG_TRY(auto rec, store_.pin());
    cbor::Map out;
    out.set(cbor::Value(uint64_t{3}), cbor::Value(uint64_t{rec ? rec->retries : kMaxPinRetries}));
    out.set(cbor::Value(uint64_t{4}), cbor::Value(consecutive_wrong_ >= kMaxConsecutiveWrong));
    return ctap::encode_response(out);
  }
  if (subcommand == pin_sub::get_uv_retries) {
    // The built-in UV is the store's PIN asked on the phone: its retries are the PIN's.
    HG_TRY(auto rec, store_.pin());
    cbor::Map out;
    out.set(cbor::Value(uint64_t{5}), cbor::Value(uint64_t{rec ? rec->retries : kMaxPinRetries}));
    return ctap::encode_response(out);
  }
  if (subcommand != pin_sub::get_key_agreement && subcommand != pin_sub::set_pin &&
      subcommand != pin_sub::change_pin && subcommand != pin_sub::get_pin_token &&
      subcommand != pin_sub::get_token_with_permissions && subcommand != pin_sub::get_token_using_uv)
    return fail(ctap::status::invalid_subcommand);
  if (!proto) return fail(ctap::status::missing_parameter, "pinUvAuthProtocol");
  const uint64_t version = proto->as_unsigned();
  if (!pin_protocol::supported(version)) return fail(ctap::status::invalid_parameter, "pinUvAuthProtocol");
  if (subcommand == pin_sub::get_key_agreement) {
    cbor::Map out;
    out.set(cbor::Value(uint64_t{1}), cbor::Value(pin_protocol::cose_key_agreement(key_agreement_)));
    return ctap::encode_response(out);
  }
  if (subcommand == pin_sub::get_pin_token || subcommand == pin_sub::get_token_with_permissions)
    return pin_token(params, subcommand);
  if (subcommand == pin_sub::get_token_using_uv) return uv_token(params);

  // setPIN / changePIN
  HG_TRY(const cbor::Value* ka, param(params, pin_key::key_agreement, cbor::Type::Map));
  HG_TRY(const cbor::Value* mac, param(params, pin_key::pin_uv_auth_param, cbor::Type::Bytes));
  HG_TRY(const cbor::Value* new_enc, param(params, pin_key::new_pin_enc, cbor::Type::Bytes));
  if (!ka || !mac || !new_enc) return fail(ctap::status::missing_parameter, "setPIN/changePIN parameters");
  HG_TRY(auto current, store_.pin());
  if (subcommand == pin_sub::set_pin && current) return fail(ctap::status::not_allowed, "a PIN is set already");
  if (subcommand == pin_sub::change_pin) {
    if (!current) return fail(ctap::status::pin_not_set);
    if (current->retries == 0) return fail(ctap::status::pin_blocked);
    if (!params.find(pin_key::pin_hash_enc)) return fail(ctap::status::missing_parameter, "pinHashEnc");
  }
  HG_TRY(SecretBytes shared, pin_protocol::shared_secret(version, key_agreement_, ka->as_map()));
  Bytes message = new_enc->as_bytes();
  if (subcommand == pin_sub::change_pin) {
    HG_TRY(const cbor::Value* hash_enc, param(params, pin_key::pin_hash_enc, cbor::Type::Bytes));
    message.insert(message.end(), hash_enc->as_bytes().begin(), hash_enc->as_bytes().end());
  }
  if (!pin_protocol::verify(version, shared, message, mac->as_bytes())) return fail(ctap::status::pin_auth_invalid);
  if (subcommand == pin_sub::change_pin) HG_CHECK(check_pin_hash_enc(version, shared, params));
  auto padded = pin_protocol::decrypt(version, shared, new_enc->as_bytes());
  if (!padded) return fail(ctap::status::invalid_parameter, "newPinEnc");
  HG_TRY(PinRecord rec, new_pin_record(padded->view()));
  if (auto st = store_.set_pin(rec); !st) return fail(ctap::status::other, st.error().to_string());
  token_ = SecretBytes();  // a new PIN invalidates the token (resetPinUvAuthToken)
  token_permissions_ = 0;
  token_rp_id_.reset();
  return ctap::encode_response_status(ctap::status::ok);
}

// The permissions a token request asks for: some, and only makeCredential and getAssertion.
namespace {
Result<uint8_t> token_permissions(const cbor::Value& perms) {
  if (perms.as_unsigned() == 0) return fail(ctap::status::invalid_parameter, "no permissions");
  if (perms.as_unsigned() & ~uint64_t{kPermMakeCredential | kPermGetAssertion})
    return fail(ctap::status::unauthorized_permission, "only mc and ga are offered");
  return static_cast<uint8_t>(perms.as_unsigned());
}
}  // namespace

Result<Bytes> SoftwareAuthenticator::pin_token(const cbor::Map& params, uint64_t subcommand) {
  const uint64_t version = params.find(pin_key::protocol)->as_unsigned();  // checked by client_pin
  HG_TRY(const cbor::Value* ka, param(params, pin_key::key_agreement, cbor::Type::Map));
  HG_TRY(const cbor::Value* hash_enc, param(params, pin_key::pin_hash_enc, cbor::Type::Bytes));
  HG_TRY(const cbor::Value* perms, param(params, pin_key::permissions, cbor::Type::Unsigned));
  HG_TRY(const cbor::Value* rp, param(params, pin_key::rp_id, cbor::Type::Text));
  if (!ka || !hash_enc) return fail(ctap::status::missing_parameter, "keyAgreement/pinHashEnc");
  uint8_t permissions = kPermMakeCredential | kPermGetAssertion;  // getPinToken's implied permissions
  if (subcommand == pin_sub::get_pin_token) {
    if (perms || rp) return fail(ctap::status::invalid_parameter, "getPinToken takes no permissions");
  } else {
    if (!perms) return fail(ctap::status::missing_parameter, "permissions");
    HG_TRY(permissions, token_permissions(*perms));
  }
  HG_TRY(auto current, store_.pin());
  if (!current) return fail(ctap::status::pin_not_set);
  if (current->retries == 0) return fail(ctap::status::pin_blocked);
  if (consecutive_wrong_ >= kMaxConsecutiveWrong) return fail(ctap::status::pin_auth_blocked);
  HG_TRY(SecretBytes shared, pin_protocol::shared_secret(version, key_agreement_, ka->as_map()));
  HG_CHECK(check_pin_hash_enc(version, shared, params));
  return issue_token(version, shared, permissions, rp);
}

Result<Bytes> SoftwareAuthenticator::issue_token(uint64_t version, const SecretBytes& shared, uint8_t permissions,
                                                 const cbor::Value* rp) {
  token_ = SecretBytes(crypto::random_bytes(pin_protocol::kTokenLen));
  token_version_ = version;
  token_permissions_ = permissions;
  token_rp_id_.reset();
  if (rp) token_rp_id_ = rp->as_text();
  HG_TRY(Bytes enc, pin_protocol::encrypt(version, shared, token_.view()));
  cbor::Map out;
  out.set(cbor::Value(uint64_t{2}), cbor::Value(std::move(enc)));
  return ctap::encode_response(out);
}

Result<Bytes> SoftwareAuthenticator::uv_token(const cbor::Map& params) {
  const uint64_t version = params.find(pin_key::protocol)->as_unsigned();  // checked by client_pin
  HG_TRY(const cbor::Value* ka, param(params, pin_key::key_agreement, cbor::Type::Map));
  HG_TRY(const cbor::Value* perms, param(params, pin_key::permissions, cbor::Type::Unsigned));
  HG_TRY(const cbor::Value* rp, param(params, pin_key::rp_id, cbor::Type::Text));
  if (!ka || !perms) return fail(ctap::status::missing_parameter, "keyAgreement/permissions");
  HG_TRY(const uint8_t permissions, token_permissions(*perms));
  HG_TRY(SecretBytes shared, pin_protocol::shared_secret(version, key_agreement_, ka->as_map()));
  PinPrompt prompt{rp ? rp->as_text() : std::string(), "",
                   (permissions & kPermMakeCredential) ? Operation::make_credential : Operation::get_assertion, 0,
                   false};
  // §6.5.5.7.3 step 4: built-in UV not configured (no PIN on the phone) is NOT_ALLOWED.
  HG_CHECK(internal_uv(prompt, ctap::status::not_allowed));
  return issue_token(version, shared, permissions, rp);
}

Status SoftwareAuthenticator::internal_uv(PinPrompt prompt, uint8_t not_configured) {
  if (config_.test_assume_verified) return ok_status();
  HG_TRY(auto rec, store_.pin());
  if (!rec) return fail(not_configured, "user verification requested but no PIN is set");
  static const std::atomic<bool> never{false};
  const std::atomic<bool>& cancelled = cancelled_ ? *cancelled_ : never;
  for (;;) {
    HG_TRY(auto now, store_.pin());
    if (!now) return fail(ctap::status::pin_not_set);
    if (now->retries == 0) return fail(ctap::status::pin_blocked);
    if (consecutive_wrong_ >= kMaxConsecutiveWrong) return fail(ctap::status::pin_auth_blocked);
    prompt.retries = now->retries;
    auto pin = presence_.ask_pin(prompt, cancelled);
    if (cancelled) return fail(ctap::status::keepalive_cancel, "the request was withdrawn");
    if (!pin) return fail(ctap::status::operation_denied, "no PIN was entered");
    auto hash = pin_protocol::pin_hash(pin->view());
    Status st = check_pin_hash(hash);
    secure_wipe(hash);
    if (st) return ok_status();
    if (ctap::status_for_error(st.error()) != ctap::status::pin_invalid) return st.error();
    prompt.again = true;
  }
}

Result<SoftwareAuthenticator::Verification> SoftwareAuthenticator::verify_user(const cbor::Map& params, uint64_t key_param, uint64_t key_proto,
                                                        uint8_t permission, const PinPrompt& prompt,
                                                        ByteView client_data_hash, std::optional<bool> uv_option,
                                                        bool needs_uv_when_protected) {
  HG_TRY(const cbor::Value* mac, param(params, key_param, cbor::Type::Bytes));
  HG_TRY(const cbor::Value* proto, param(params, key_proto, cbor::Type::Unsigned));
  if (mac) {
    if (mac->as_bytes().empty()) {
      // CTAP 2.1 §6.1.2 step 1: a platform asking which authenticator to use. Presence, then
      // whether a PIN is set.
      HG_CHECK(confirm(prompt.rp_id, "", Operation::selection));
      HG_TRY(bool set, pin_is_set());
      return fail(set ? ctap::status::pin_invalid : ctap::status::pin_not_set);
    }
    if (!proto) return fail(ctap::status::missing_parameter, "pinUvAuthProtocol");
    if (!pin_protocol::supported(proto->as_unsigned())) return fail(ctap::status::invalid_parameter, "pinUvAuthProtocol");
    if (token_.size() == 0 || proto->as_unsigned() != token_version_ ||
        !pin_protocol::verify(token_version_, token_, client_data_hash, mac->as_bytes()))
      return fail(ctap::status::pin_auth_invalid);
    if (!(token_permissions_ & permission)) return fail(ctap::status::pin_auth_invalid, "the token lacks the permission");
    if (token_rp_id_ && *token_rp_id_ != prompt.rp_id) return fail(ctap::status::pin_auth_invalid, "the token is for another RP");
    if (!token_rp_id_) token_rp_id_ = prompt.rp_id;
    return Verification{true, false};
  }
  if (uv_option.value_or(false)) {
    if (config_.test_assume_verified) return Verification{true, false};
    // §6.1.2 step 5 / §6.2.2 step 5: uv requested from an authenticator whose built-in
    // verification is not configured: INVALID_OPTION.
    HG_CHECK(internal_uv(prompt, ctap::status::invalid_option));
    return Verification{true, true};
  }
  if (needs_uv_when_protected && !config_.test_assume_verified) {
    HG_TRY(bool set, pin_is_set());
    if (set) return fail(ctap::status::puat_required, "a discoverable passkey needs the PIN");
  }
  return Verification{false, false};
}

void SoftwareAuthenticator::spend_token() {
  // CTAP 2.1 §6.1.2 / §6.2.2: a token's permissions are cleared once it has been used.
  token_permissions_ = 0;
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
  // User verification (CTAP 2.1 §6.1.2 steps 1-11): a pinUvAuthToken's MAC, or the PIN asked on
  // the phone for options.uv; a PIN-protected store makes discoverable passkeys only verified.
  PinPrompt prompt{req.rp.id, user_name, Operation::make_credential, 0, false};
  HG_TRY(auto v, verify_user(params, 8, 9, kPermMakeCredential, prompt, req.client_data_hash, req.options.uv,
                             req.options.rk.value_or(false)));
  HG_TRY(bool is_excluded, excluded(req));
  if (is_excluded) {
    // CTAP 2.1 §6.1.2 step 7: collect presence, then report the exclusion.
    if (!v.presence) HG_CHECK(confirm(req.rp.id, user_name, Operation::excluded));
    return fail(ctap::status::credential_excluded);
  }
  if (!v.presence) HG_CHECK(confirm(req.rp.id, user_name, Operation::make_credential));
  if (params.find(uint64_t{8})) spend_token();

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

  // Flags: user present; verified only when the person was (the PIN, or the test-only assumption).
  auto ad = base_auth_data(req.rp.id, static_cast<uint8_t>(ctap::flags::up | (v.verified ? ctap::flags::uv : 0)),
                           rec.sign_count);
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
  if (prf_request) {  // prf is enabled; eval is answered only for a verified user
    prf::Outputs out;
    out.enabled = true;
    if (prf_request->eval && v.verified) out.results = prf::evaluate(cred_random(rec).view(), *prf_request->eval);
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

  PinPrompt prompt{req.rp_id, cred.user_name, Operation::get_assertion, 0, false};
  HG_TRY(auto v, verify_user(params, 6, 7, kPermGetAssertion, prompt, req.client_data_hash, req.options.uv, false));
  uint8_t fl = 0;
  if (want_presence) {
    if (!v.presence) HG_CHECK(confirm(req.rp_id, cred.user_name, Operation::get_assertion));
    fl = ctap::flags::up;
  }
  if (v.verified) fl |= ctap::flags::uv;
  if (params.find(uint64_t{6})) spend_token();

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
