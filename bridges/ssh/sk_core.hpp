// SPDX-License-Identifier: Apache-2.0
// What libhybridgate-sk.so does that is not I/O, in one place: the raw CTAP requests it sends
// (makeCredential at enrolment, getAssertion for signatures and resident keys) and the checks and
// conversions of the phone's answers into what OpenSSH wants (the public key in OpenSSH's form,
// the key handle, flags, counter, the signature's r and s), over the project's CTAP codecs
// (proto/ctap, linked in statically and hidden, as the PAM module does) — the same codecs the
// desktop and the fuzzers use. The provider (provider.cpp) transacts the bytes through the C ABI
// and turns errors into OpenSSH's codes; tests/fuzz/fuzz_sk_answers.cpp feeds these readers
// arbitrary answers.
//
// The readers take a whole response frame (status byte || CBOR); the caller has already
// handled a non-zero status (an error status still comes back as its ctap.* error). Malformed
// answers are ctap.invalid with a detail naming what is wrong, never the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace hgsk {

using hg::Bytes;
using hg::ByteView;
using hg::Result;

// The application of resident keys OpenSSH asks for when it loads them (ssh-keygen -K).
inline constexpr std::string_view kResidentApplication = "ssh:";
// OpenSSH's user ID: the -O user= name, NUL-padded to this length (as its libfido2 provider).
inline constexpr size_t kOpenSshUserIdLen = 32;

enum class KeyType { ecdsa_p256, ed25519 };  // OpenSSH's SSH_SK_ECDSA / SSH_SK_ED25519

int64_t cose_alg(KeyType t);  // -7 (ES256) or -8 (EdDSA)
Bytes openssh_user_id(std::string_view user);
// SHA-256 of bytes (the rpIdHash of an application, the clientDataHash of OpenSSH's message).
Bytes sha256(ByteView data);

// Whether the phone's getInfo (the bare CBOR map) lists this COSE algorithm (key 10). A phone
// without the list, or with a getInfo we cannot read, offers ES256 only.
bool offers(ByteView get_info, int64_t alg);

// makeCredential {1: clientDataHash, 2: {id: application, name: "OpenSSH " application},
// 3: {id: openssh_user_id(user), name, displayName}, 4: [{alg, "public-key"}], 7: {rk?, uv?}}.
// rp.name is sent because phones require it (Chrome on Android refuses a request without).
Bytes make_credential_request(std::string_view application, ByteView client_data_hash, std::string_view user,
                              KeyType type, bool resident, bool user_verification);
// getAssertion {1: application, 2: clientDataHash, 3: [credential_id]?, 5: {up, uv?}}.
Bytes get_assertion_request(std::string_view application, ByteView client_data_hash, const Bytes* credential_id,
                            bool user_presence, bool user_verification);
// authenticatorGetNextAssertion (the command byte alone).
Bytes get_next_assertion_request();

struct Enrolled {
  Bytes public_key;     // OpenSSH's form: the 65-byte uncompressed P-256 point, or the 32-byte Ed25519 key
  Bytes key_handle;     // the credential ID
  Bytes auth_data;      // raw authenticator data
  uint8_t flags = 0;    // authenticator data flags
  Bytes signature;      // attStmt "sig" (empty for fmt "none")
  Bytes certificate;    // attStmt "x5c"[0] (empty when there is none)
};
// The makeCredential answer, checked: rpIdHash = SHA-256(application), attested credential data
// with a non-empty credential ID and a valid key of `type` (a P-256 point on the curve).
Result<Enrolled> read_enrolment(ByteView response, std::string_view application, KeyType type);

struct Assertion {
  Bytes credential_id;
  Bytes auth_data;      // raw authenticator data
  uint8_t flags = 0;
  uint32_t counter = 0;
  Bytes signature;      // as the phone sent it (DER for ECDSA, 64 bytes for Ed25519)
  Bytes user_id;        // the user handle, when the phone sent one
  size_t count = 1;     // numberOfCredentials (first answer without an allow list only; 1..64)
};
// A getAssertion (or getNextAssertion) answer, checked: rpIdHash = SHA-256(application), a
// non-empty signature, and the credential: the one asked for (`expected_id`, which may be left
// out of the answer), or any named one when none was asked for.
Result<Assertion> read_assertion(ByteView response, std::string_view application, const Bytes* expected_id);

// OpenSSH's sk_sign_response signature fields: r and s (big-endian, no leading zeros, at most
// 32 bytes each) of a DER ECDSA signature, or the 64-byte Ed25519 signature as r with s empty.
struct SshSignature {
  Bytes r;
  Bytes s;
};
Result<SshSignature> ssh_signature(KeyType type, ByteView signature);

// Resident keys: a getAssertion answer carries no public key, so it is recovered from two
// assertions of the credential over different clientDataHashes. First the candidates (SEC 1
// §4.1.6 public key recovery, uncompressed P-256 points) from one assertion's ECDSA signature —
// empty when it is not an ECDSA P-256 signature (an Ed25519 key cannot be recovered) —, then the
// one candidate that verifies both assertions (nullopt when none does).
std::vector<Bytes> p256_key_candidates(const Assertion& a, ByteView client_data_hash);
std::optional<Bytes> p256_key_verifying_both(const std::vector<Bytes>& candidates, const Assertion& first,
                                             ByteView first_cdh, const Assertion& second, ByteView second_cdh);

}  // namespace hgsk
