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
};

class MemoryCredentialStore final : public CredentialStore {
 public:
  Result<std::vector<CredentialRecord>> find_by_rp(const std::string& rp_id) override;
  Result<std::optional<CredentialRecord>> find_by_id(ByteView credential_id) override;
  Status add(const CredentialRecord& record) override;
  Status remove(ByteView credential_id) override;
  Status update_sign_count(ByteView credential_id, uint32_t sign_count) override;
  const std::vector<CredentialRecord>& records() const { return records_; }

 private:
  std::vector<CredentialRecord> records_;
};

enum class Operation {
  make_credential,   // create a passkey for rp_id / user_name
  get_assertion,     // sign in to rp_id as user_name
  excluded,          // a passkey for this account exists already; the user acknowledges
  selection,         // authenticatorSelection: "use this phone?"
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

  // getInfo: versions FIDO_2_0/FIDO_2_1, extensions ["prf"] (proto/prf.hpp), aaguid, options rk/up/uv = true,
  // transports ["hybrid","internal"], algorithms [ES256, EdDSA]. Also key 1 of the post-handshake message.
  ctap::GetInfoResponse get_info() const;
  Bytes get_info_cbor() override;

 private:
  Result<Bytes> dispatch(ByteView request);
  Result<Bytes> make_credential(const cbor::Map& params);
  Result<Bytes> get_assertion(const cbor::Map& params);
  Result<Bytes> selection();
  Result<std::vector<CredentialRecord>> assertion_candidates(const ctap::GetAssertionRequest& req);
  Result<bool> excluded(const ctap::MakeCredentialRequest& req);
  Result<uint64_t> next_created(const std::string& rp_id);
  // Asks the person; CTAP2_ERR_KEEPALIVE_CANCEL when the request was withdrawn meanwhile.
  Status confirm(const std::string& rp_id, const std::string& user_name, Operation op);

  CredentialStore& store_;
  UserPresence& presence_;
  Config config_;
  const std::atomic<bool>* cancelled_ = nullptr;  // of the request in handle()
};

}  // namespace hg::authenticator
