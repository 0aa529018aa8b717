// SPDX-License-Identifier: Apache-2.0
// What libhybridgate-sk.so computes itself, in one place, over OpenSSL only: OpenSSH's user ID and
// message hash, the conversion of the phone's signature into OpenSSH's r and s, and the recovery of
// a resident key's public key from two of its signatures. Everything that touches CTAP (building
// the requests, decoding and checking the phone's answers) is libhybridgate's raw CTAP API
// (hg_connection_make_credential / hg_connection_get_assertion in hybridgate.h); the provider
// (provider.cpp) links libhybridgate.so and nothing of the library statically.
// tests/fuzz/fuzz_sk_answers feeds arbitrary answers through the library's readers and these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace hgsk {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// The application of resident keys OpenSSH asks for when it loads them (ssh-keygen -K).
inline constexpr std::string_view kResidentApplication = "ssh:";
// OpenSSH's user ID: the -O user= name, NUL-padded to this length (as its libfido2 provider).
inline constexpr size_t kOpenSshUserIdLen = 32;

enum class KeyType { ecdsa_p256, ed25519 };  // OpenSSH's SSH_SK_ECDSA / SSH_SK_ED25519

int32_t cose_alg(KeyType t);  // HG_COSE_ES256 (-7) or HG_COSE_EDDSA (-8)
Bytes openssh_user_id(std::string_view user);
// SHA-256 of bytes (the clientDataHash of OpenSSH's message).
Bytes sha256(ByteView data);
// 32 random bytes (OpenSSL's DRBG).
Bytes random32();

// OpenSSH's sk_sign_response signature fields: r and s (big-endian, no leading zeros, at most
// 32 bytes each) of a DER ECDSA signature, or the 64-byte Ed25519 signature as r with s empty.
// nullopt for a signature that is neither.
struct SshSignature {
  Bytes r;
  Bytes s;
};
std::optional<SshSignature> ssh_signature(KeyType type, ByteView signature);

// One signature of a credential: the authenticator data and the signature over
// authData || clientDataHash.
struct Signed {
  Bytes auth_data;
  Bytes signature;
};

// Resident keys: a getAssertion answer carries no public key, so it is recovered from two
// assertions of the credential over different clientDataHashes. First the candidates (SEC 1
// §4.1.6 public key recovery, uncompressed P-256 points) from one assertion's ECDSA signature —
// empty when it is not an ECDSA P-256 signature (an Ed25519 key cannot be recovered) —, then the
// one candidate that verifies both assertions (nullopt when none does).
std::vector<Bytes> p256_key_candidates(const Signed& a, ByteView client_data_hash);
std::optional<Bytes> p256_key_verifying_both(const std::vector<Bytes>& candidates, const Signed& first,
                                             ByteView first_cdh, const Signed& second, ByteView second_cdh);

}  // namespace hgsk
