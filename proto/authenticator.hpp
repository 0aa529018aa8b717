// SPDX-License-Identifier: Apache-2.0
// The software authenticator core (phone side): answers CTAP2 requests (cmd || CBOR) with
// responses (status || CBOR) from a credential store, asking a UserPresence for consent.
// Pure: no clock, no files, no threads. The store and the presence prompt are interfaces the
// tools layer implements (FileCredentialStore, a terminal prompt, ...).
#pragma once

#include <atomic>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/ctap.hpp"
#include "proto/crypto.hpp"
#include "proto/error.hpp"

namespace hg::authenticator {

// One credential (passkey). The private key lives only here (never in the credential ID).
struct CredentialRecord {
  Bytes credential_id;
  std::string rp_id;
  std::string rp_name;
  Bytes user_id;
  std::string user_name;
  std::string display_name;
  SecretBytes private_key;  // ES256: 32-byte big-endian P-256 scalar; EdDSA: the 32-byte Ed25519 seed
  int64_t alg = ctap::cose::alg_es256;  // COSE algorithm: ES256 (-7) or EdDSA (-8)
  uint32_t sign_count = 0;
  uint64_t created = 0;     // ordering value supplied by the authenticator (a clock or a counter)
  bool discoverable = false;  // made with options.rk = true
};

// The store's PIN (CTAP 2.1 clientPIN), kept by the CredentialStore so that it and its retry
// counter survive a restart. The PIN itself is never kept: only a memory-hard verifier of the
// PIN hash CTAP sends (LEFT(SHA-256(PIN), 16)), so a copied store does not give the PIN away cheaply.
struct PinRecord {
  Bytes salt;                 // 16 random bytes
  Bytes verifier;             // scrypt(LEFT(SHA-256(PIN), 16), salt, kdf), 32 bytes
  crypto::ScryptParams kdf;   // the verifier's scrypt parameters
  uint8_t retries = 8;        // pinRetries: 8 after a right PIN, 0 = blocked for good
  uint32_t length = 0;        // the PIN's length in Unicode code points (minPINLength policy)
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // All credentials of an RP (any order).
  virtual Result<std::vector<CredentialRecord>> find_by_rp(const std::string& rp_id) = 0;
  // The credential with this ID, or nullopt.
  virtual Result<std::optional<CredentialRecord>> find_by_id(ByteView credential_id) = 0;
  // Adds a credential (its ID is new).
  virtual Status add(const CredentialRecord& record) = 0;
  // Removes a credential; removing an unknown ID is not an error.
  virtual Status remove(ByteView credential_id) = 0;
  // Persists a new signature counter for a credential.
  virtual Status update_sign_count(ByteView credential_id, uint32_t sign_count) = 0;
  // The PIN record; nullopt when no PIN is set.
  virtual Result<std::optional<PinRecord>> pin() = 0;
  // Stores (replaces) the PIN record; written before the call returns.
  virtual Status set_pin(const PinRecord& record) = 0;
};

class MemoryCredentialStore final : public CredentialStore {
 public:
  Result<std::vector<CredentialRecord>> find_by_rp(const std::string& rp_id) override;
  Result<std::optional<CredentialRecord>> find_by_id(ByteView credential_id) override;
  Status add(const CredentialRecord& record) override;
  Status remove(ByteView credential_id) override;
  Status update_sign_count(ByteView credential_id, uint32_t sign_count) override;
  Result<std::optional<PinRecord>> pin() override { return pin_; }
  Status set_pin(const PinRecord& record) override {
    pin_ = record;
    return ok_status();
  }
  const std::vector<CredentialRecord>& records() const { return records_; }

 private:
  std::vector<CredentialRecord> records_;
  std::optional<PinRecord> pin_;
};

enum class Operation {
  make_credential,   // create a passkey for rp_id / user_name
  get_assertion,     // sign in to rp_id as user_name
  excluded,          // a passkey for this account exists already; the user acknowledges
  selection,         // authenticatorSelection: "use this phone?"
};

// What the person is shown when the phone asks for its PIN (built-in user verification).
struct PinPrompt {
  std::string rp_id;
  std::string user_name;  // may be empty (a sign-in that has not chosen its account yet)
  Operation op = Operation::get_assertion;
  unsigned retries = 8;   // attempts left before the PIN is blocked for good
  bool again = false;     // the PIN entered just before was wrong
};

class UserPresence {
 public:
  virtual ~UserPresence() = default;
  // true when the user consents. rp_id / user_name may be empty (selection).
  virtual bool confirm(const std::string& rp_id, const std::string& user_name, Operation op) = 0;
  // The same, for a request that may be withdrawn: once `cancelled` turns true (from another
  // thread: the desktop went away) the prompt should be taken down and false returned soon.
  // The default asks confirm() and cannot take its prompt down; the authenticator ignores a yes
  // that comes after the cancellation either way.
  virtual bool confirm_cancellable(const std::string& rp_id, const std::string& user_name, Operation op,
                                   const std::atomic<bool>& cancelled) {
    return !cancelled && confirm(rp_id, user_name, op);
  }
  // Several passkeys of rp_id could answer a sign-in without an allow list: which one? `accounts`
  // are "user name (display name)" lines, newest first. Returns an index into `accounts`, or
  // nullopt when the person declines. The default takes the newest.
  virtual std::optional<size_t> choose_account(const std::string& rp_id, const std::vector<std::string>& accounts,
                                               const std::atomic<bool>& cancelled) {
    (void)rp_id;
    (void)cancelled;
    if (accounts.empty()) return std::nullopt;
    return 0;
  }
  // Built-in user verification: asks the person for the store's PIN (UTF-8). Entering it is also
  // the person's consent (user presence). nullopt = declined, withdrawn (`cancelled`), or no way
  // to ask — the default, which makes a request that requires verification fail.
  virtual std::optional<SecretBytes> ask_pin(const PinPrompt& prompt, const std::atomic<bool>& cancelled) {
    (void)prompt;
    (void)cancelled;
    return std::nullopt;
  }
};

class AlwaysConfirm final : public UserPresence {
 public:
  bool confirm(const std::string&, const std::string&, Operation) override { return true; }
};

enum class AttestationFormat {
  none,         // fmt "none", attStmt {}
  packed_self,  // fmt "packed", attStmt {alg: -7, sig: ECDSA(authData || clientDataHash)} with the credential key
};

struct Config {
  std::array<uint8_t, 16> aaguid{};  // all zero by default, as Chrome-on-Android
  AttestationFormat attestation = AttestationFormat::none;
  // Ordering value for new credentials (e.g. Unix time). When absent, or when it does not
  // increase, the authenticator uses 1 + the newest value among the RP's credentials.
  std::function<uint64_t()> now;
  // The prf extension (proto/prf.hpp): listed in getInfo and answered. false = behave like a phone
  // without it (not listed; "prf" inputs ignored, as CTAP requires for unsupported extensions).
  bool prf = true;
  // EdDSA (Ed25519, COSE -8) besides ES256: listed in getInfo's algorithms and made when a
  // makeCredential's pubKeyCredParams lists it before ES256. false = ES256 only.
  bool eddsa = true;
  // FOR TESTS ONLY: report and set user verification without verifying anybody (what this
  // authenticator did before it had a PIN). `hybridgate phone --test-assume-verified`.
  bool test_assume_verified = false;
  // The scrypt parameters of a new PIN's verifier (PinRecord::kdf).
  crypto::ScryptParams pin_kdf{};
};

// What the phone side of a hybrid ceremony answers with (hybrid/phone.hpp): any CTAP2
// authenticator — this software one, or e.g. a relay to a USB security key.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // getInfo as a CBOR map (no status byte): key 1 of the post-handshake message.
  virtual Bytes get_info_cbor() = 0;
  // cmd || CBOR in, status || CBOR out. Must not throw; every failure is a CTAP status byte.
  // `cancelled` turns true (from another thread) when the request is no longer wanted — the
  // desktop closed the tunnel, shut the session down or let its deadline pass: the authenticator
  // withdraws its prompt, creates, signs and counts nothing, and answers
  // CTAP2_ERR_KEEPALIVE_CANCEL.
  virtual Bytes handle(ByteView request, const std::atomic<bool>& cancelled) noexcept = 0;
  // A request nobody will withdraw.
  Bytes handle(ByteView request) noexcept {
    const std::atomic<bool> never{false};
    return handle(request, never);
  }
};

class SoftwareAuthenticator final : public Authenticator {
 public:
  SoftwareAuthenticator(CredentialStore& store, UserPresence& presence, Config config = {});

  // cmd || CBOR in, status || CBOR out. Never throws; every failure is a CTAP status byte. A
  // credential is stored, and a counter raised, only after the person confirmed while the request
  // was still wanted.
  Bytes handle(ByteView request, const std::atomic<bool>& cancelled) noexcept override;
  using Authenticator::handle;

  // getInfo: versions FIDO_2_0/FIDO_2_1, extensions ["prf"] (proto/prf.hpp), aaguid, options rk/up = true,
  // clientPin and uv = whether a PIN is set (false = capable, not configured: CTAP 2.1 §6.4),
  // pinUvAuthToken, makeCredUvNotRqd; pinUvAuthProtocols [2, 1], minPINLength 4,
  // transports ["hybrid","internal"], algorithms [ES256, EdDSA]. Also key 1 of the post-handshake message.
  // The UV flag is set only after the person entered the right PIN (on the phone, or through a
  // pinUvAuthToken the platform got with it).
  ctap::GetInfoResponse get_info();
  Bytes get_info_cbor() override;

  // Sets the store's PIN on the phone itself (`hybridgate phone --set-pin`) or, when one is set,
  // changes it: `current` must then be the PIN set now (a try like any other: retries, lock-out).
  // The PIN is UTF-8, 4 to 63 bytes (at least 4 characters), no zero byte. Errors carry the
  // CTAP status clientPIN would answer (pin_policy_violation, pin_invalid, pin_blocked,
  // pin_auth_blocked, not_allowed).
  Status set_pin(ByteView new_pin, std::optional<ByteView> current);

 private:
  Result<Bytes> dispatch(ByteView request);
  Result<Bytes> make_credential(const cbor::Map& params);
  Result<Bytes> get_assertion(const cbor::Map& params);
  Result<Bytes> selection();
  Result<Bytes> client_pin(const cbor::Map& params);
  Result<Bytes> pin_token(const cbor::Map& params, uint64_t subcommand);
  // getPinUvAuthTokenUsingUvWithPermissions (CTAP 2.1 §6.5.5.7.3): the phone's built-in user
  // verification (its PIN asked on the phone), then a token as getPinUvAuthTokenUsingPin's.
  Result<Bytes> uv_token(const cbor::Map& params);
  // The phone's built-in user verification: its PIN asked through the UserPresence's ask_pin
  // (retries, lock-out), shown `prompt`; the status `not_configured` when no PIN is set (what the
  // caller's step of the spec says).
  Status internal_uv(PinPrompt prompt, uint8_t not_configured);
  // Issues a new token for `permissions` (optionally bound to rp_id), encrypted for the platform.
  Result<Bytes> issue_token(uint64_t version, const SecretBytes& shared, uint8_t permissions,
                            const cbor::Value* rp);
  // Checks an encrypted PIN hash against the stored PIN (retries, lock-out, CTAP 2.1 §6.5.5.7.2).
  Status check_pin_hash_enc(uint64_t version, const SecretBytes& shared, const cbor::Map& params);
  // Checks a PIN hash (16 bytes); counts a wrong one. The status of a wrong or blocked PIN.
  Status check_pin_hash(ByteView hash16);
  Result<PinRecord> new_pin_record(ByteView padded_pin);
  Result<PinRecord> make_pin_record(const SecretBytes& pin);
  Result<bool> pin_is_set();
  // The UV decision for a request: pinUvAuthParam (key_param / key_proto), options.uv (the PIN
  // asked on the phone, shown `prompt`), or neither; PUAT_REQUIRED when `needs_uv_when_protected`
  // and a PIN is set but nothing verified.
  struct Verification {
    bool verified = false;
    bool presence = false;  // the person entered the PIN on the phone: that was their consent
  };
  Result<Verification> verify_user(const cbor::Map& params, uint64_t key_param, uint64_t key_proto, uint8_t permission,
                                   const PinPrompt& prompt, ByteView client_data_hash, std::optional<bool> uv_option,
                                   bool needs_uv_when_protected);
  void spend_token();
  Result<std::vector<CredentialRecord>> assertion_candidates(const ctap::GetAssertionRequest& req);
  Result<bool> excluded(const ctap::MakeCredentialRequest& req);
  Result<uint64_t> next_created(const std::string& rp_id);
  // Asks the person; CTAP2_ERR_KEEPALIVE_CANCEL when the request was withdrawn meanwhile.
  Status confirm(const std::string& rp_id, const std::string& user_name, Operation op);

  CredentialStore& store_;
  UserPresence& presence_;
  Config config_;
  const std::atomic<bool>* cancelled_ = nullptr;  // of the request in handle()

  // clientPIN state that a power cycle (a restart of the phone) resets, as on a security key.
  crypto::P256Key key_agreement_;
  SecretBytes token_;           // the current pinUvAuthToken (empty = none)
  uint64_t token_version_ = 0;  // the pinUvAuthProtocol it was issued under
  uint8_t token_permissions_ = 0;
  std::optional<std::string> token_rp_id_;
  unsigned consecutive_wrong_ = 0;  // 3 in a row: no more tries until a restart
};

}  // namespace hg::authenticator
