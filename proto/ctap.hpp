// SPDX-License-Identifier: Apache-2.0
// CTAP2 codecs for the messages the hybrid transport carries (docs/protocol.md §8): command and status
// bytes, makeCredential / getAssertion / getInfo requests and responses, authenticator data,
// COSE ES256 keys and the WebAuthn attestation object. Pure functions and values, no I/O.
//
// Everything written is CTAP2-canonical CBOR (through hg::cbor::encode). Requests and responses
// are read leniently (non-canonical CBOR accepted, unknown keys ignored or kept) but with strict
// types; errors carry the CTAP status a real authenticator would return (see status_for_error).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/cbor.hpp"
#include "proto/crypto.hpp"
#include "proto/error.hpp"

namespace hg::ctap {

// ---------------------------------------------------------------- command bytes (CTAP 2.1 §6)

enum class Command : uint8_t {
  make_credential = 0x01,  // authenticatorMakeCredential
  get_assertion = 0x02,    // authenticatorGetAssertion
  get_info = 0x04,         // authenticatorGetInfo (no parameters)
  client_pin = 0x06,       // authenticatorClientPIN (CTAP 2.1 §6.5)
  selection = 0x0B,        // authenticatorSelection (no parameters; "tap to pick this authenticator")
};

// ---------------------------------------------------------------- status bytes (CTAP 2.1 §8.2)

namespace status {
inline constexpr uint8_t ok = 0x00;                     // CTAP2_OK
inline constexpr uint8_t invalid_command = 0x01;        // CTAP1_ERR_INVALID_COMMAND
inline constexpr uint8_t invalid_parameter = 0x02;      // CTAP1_ERR_INVALID_PARAMETER
inline constexpr uint8_t invalid_length = 0x03;         // CTAP1_ERR_INVALID_LENGTH
inline constexpr uint8_t cbor_unexpected_type = 0x11;   // CTAP2_ERR_CBOR_UNEXPECTED_TYPE
inline constexpr uint8_t invalid_cbor = 0x12;           // CTAP2_ERR_INVALID_CBOR
inline constexpr uint8_t missing_parameter = 0x14;      // CTAP2_ERR_MISSING_PARAMETER
inline constexpr uint8_t credential_excluded = 0x19;    // CTAP2_ERR_CREDENTIAL_EXCLUDED
inline constexpr uint8_t unsupported_algorithm = 0x26;  // CTAP2_ERR_UNSUPPORTED_ALGORITHM
inline constexpr uint8_t operation_denied = 0x27;       // CTAP2_ERR_OPERATION_DENIED
inline constexpr uint8_t key_store_full = 0x28;         // CTAP2_ERR_KEY_STORE_FULL
inline constexpr uint8_t unsupported_option = 0x2B;     // CTAP2_ERR_UNSUPPORTED_OPTION
inline constexpr uint8_t invalid_option = 0x2C;         // CTAP2_ERR_INVALID_OPTION
inline constexpr uint8_t keepalive_cancel = 0x2D;       // CTAP2_ERR_KEEPALIVE_CANCEL
inline constexpr uint8_t no_credentials = 0x2E;         // CTAP2_ERR_NO_CREDENTIALS
inline constexpr uint8_t user_action_timeout = 0x2F;    // CTAP2_ERR_USER_ACTION_TIMEOUT
inline constexpr uint8_t not_allowed = 0x30;            // CTAP2_ERR_NOT_ALLOWED
inline constexpr uint8_t pin_invalid = 0x31;            // CTAP2_ERR_PIN_INVALID
inline constexpr uint8_t pin_blocked = 0x32;            // CTAP2_ERR_PIN_BLOCKED
inline constexpr uint8_t pin_auth_invalid = 0x33;       // CTAP2_ERR_PIN_AUTH_INVALID
inline constexpr uint8_t pin_auth_blocked = 0x34;       // CTAP2_ERR_PIN_AUTH_BLOCKED
inline constexpr uint8_t pin_not_set = 0x35;            // CTAP2_ERR_PIN_NOT_SET
inline constexpr uint8_t puat_required = 0x36;          // CTAP2_ERR_PUAT_REQUIRED
inline constexpr uint8_t pin_policy_violation = 0x37;   // CTAP2_ERR_PIN_POLICY_VIOLATION
inline constexpr uint8_t invalid_subcommand = 0x3E;     // CTAP2_ERR_INVALID_SUBCOMMAND
inline constexpr uint8_t unauthorized_permission = 0x40;  // CTAP2_ERR_UNAUTHORIZED_PERMISSION
inline constexpr uint8_t other = 0x7F;                  // CTAP1_ERR_OTHER
}  // namespace status

// Stable name, e.g. "CTAP2_ERR_OPERATION_DENIED"; "CTAP_STATUS_UNKNOWN" for unlisted bytes.
std::string_view status_name(uint8_t s) noexcept;
// A sentence for a person, e.g. "The request was denied on the phone."
std::string_view status_sentence(uint8_t s) noexcept;
// The error code a non-zero status maps to (Errc::ctap_status for unlisted bytes).
Errc status_errc(uint8_t s) noexcept;
// An Error for a non-zero status; the detail names the byte, e.g. "0x27 CTAP2_ERR_OPERATION_DENIED".
Error status_error(uint8_t s);
// The CTAP status an authenticator returns for an error (the inverse of status_errc; CBOR
// decoding errors map to 0x12, anything else unknown to 0x7F).
uint8_t status_for_error(const Error& e) noexcept;

// ---------------------------------------------------------------- COSE (RFC 9053, CTAP2 §6.5.6)

namespace cose {
inline constexpr uint64_t key_kty = 1;        // label 1: key type
inline constexpr uint64_t key_alg = 3;        // label 3: algorithm
inline constexpr int64_t key_crv = -1;        // label -1: EC2 curve
inline constexpr int64_t key_x = -2;          // label -2: EC2 x coordinate
inline constexpr int64_t key_y = -3;          // label -3: EC2 y coordinate
inline constexpr uint64_t kty_ec2 = 2;        // kty EC2
inline constexpr uint64_t crv_p256 = 1;       // curve P-256
inline constexpr int64_t alg_es256 = -7;      // ECDSA w/ SHA-256
inline constexpr int64_t alg_rs256 = -257;    // RSASSA-PKCS1-v1_5 w/ SHA-256 (not supported here)
inline constexpr int64_t alg_edDSA = -8;      // EdDSA (Ed25519 here)
inline constexpr uint64_t kty_okp = 1;        // kty OKP (octet key pair, RFC 9053 §7.2)
inline constexpr uint64_t crv_ed25519 = 6;    // OKP curve Ed25519
}  // namespace cose

// {1: 2, 3: -7, -1: 1, -2: x, -3: y} for a P-256 public key.
cbor::Map cose_es256_encode(const crypto::P256Uncompressed& pub);
// Parses an ES256 COSE key and validates the point. Errors: ctap_invalid_parameter.
Result<crypto::P256Public> cose_es256_parse(const cbor::Map& key);
// {1: 1, 3: -8, -1: 6, -2: x} for an Ed25519 public key (RFC 9053 §7.2).
cbor::Map cose_eddsa_encode(const std::array<uint8_t, 32>& pub);
// The 32-byte public key of an EdDSA/Ed25519 COSE key. Errors: ctap_invalid_parameter.
Result<std::array<uint8_t, 32>> cose_eddsa_parse(const cbor::Map& key);

// ---------------------------------------------------------------- common structures (WebAuthn §5)

inline constexpr std::string_view kPublicKeyType = "public-key";  // PublicKeyCredentialType

struct RpEntity {
  std::string id;
  std::optional<std::string> name;
  bool operator==(const RpEntity&) const = default;
};

struct UserEntity {
  Bytes id;
  std::optional<std::string> name;
  std::optional<std::string> display_name;
  bool operator==(const UserEntity&) const = default;
};

struct CredentialParameters {
  std::string type{kPublicKeyType};
  int64_t alg = cose::alg_es256;
  bool operator==(const CredentialParameters&) const = default;
};

struct CredentialDescriptor {
  std::string type{kPublicKeyType};
  Bytes id;
  std::optional<std::vector<std::string>> transports;
  bool operator==(const CredentialDescriptor&) const = default;
};

// The "options" map of makeCredential (key 7) and getAssertion (key 5). Absent = not sent.
struct Options {
  std::optional<bool> rk;
  std::optional<bool> up;
  std::optional<bool> uv;
  bool operator==(const Options&) const = default;
};

using ClientDataHash = std::array<uint8_t, 32>;

// ---------------------------------------------------------------- requests

struct MakeCredentialRequest {
  ClientDataHash client_data_hash{};                           // key 1
  RpEntity rp;                                                 // key 2
  UserEntity user;                                             // key 3
  std::vector<CredentialParameters> pub_key_cred_params;       // key 4
  std::optional<std::vector<CredentialDescriptor>> exclude_list;  // key 5
  std::optional<cbor::Map> extensions;                         // key 6, kept as-is
  Options options;                                             // key 7 (omitted when all absent)
};

struct GetAssertionRequest {
  std::string rp_id;                                           // key 1
  ClientDataHash client_data_hash{};                           // key 2
  std::optional<std::vector<CredentialDescriptor>> allow_list;  // key 3
  std::optional<cbor::Map> extensions;                         // key 4, kept as-is
  Options options;                                             // key 5
};

cbor::Map to_cbor(const MakeCredentialRequest& r);
cbor::Map to_cbor(const GetAssertionRequest& r);
// Validate per CTAP2 and Chrome-on-Android's parser (docs/protocol.md §8.3): makeCredential requires keys 1-4,
// rp.id/rp.name, user.id/user.name/user.displayName; getAssertion requires keys 1-2. Errors are
// ctap_missing_parameter / ctap_unexpected_type / ctap_invalid_parameter.
Result<MakeCredentialRequest> make_credential_request_from_cbor(const cbor::Map& m);
Result<GetAssertionRequest> get_assertion_request_from_cbor(const cbor::Map& m);

// ---------------------------------------------------------------- responses

struct MakeCredentialResponse {
  std::string fmt;                                   // key 1: "none", "packed", ...
  Bytes auth_data;                                   // key 2: raw authenticator data
  cbor::Map att_stmt;                                // key 3
  std::optional<cbor::Map> unsigned_extension_outputs;  // key 6
  cbor::Map other;                                   // any other keys (4 epAtt, 5 largeBlobKey, ...)
};

struct GetAssertionResponse {
  std::optional<CredentialDescriptor> credential;    // key 1 (may be omitted for a 1-entry allowList)
  Bytes auth_data;                                   // key 2
  Bytes signature;                                   // key 3
  std::optional<UserEntity> user;                    // key 4
  std::optional<uint64_t> number_of_credentials;     // key 5
  std::optional<bool> user_selected;                 // key 6
  std::optional<cbor::Map> unsigned_extension_outputs;  // key 8
  cbor::Map other;                                   // any other keys
};

struct GetInfoResponse {
  std::vector<std::string> versions;                          // key 1 (required)
  std::optional<std::vector<std::string>> extensions;         // key 2
  std::array<uint8_t, 16> aaguid{};                           // key 3 (required)
  std::optional<std::vector<std::pair<std::string, bool>>> options;  // key 4
  std::optional<uint64_t> max_msg_size;                       // key 5
  std::optional<std::vector<std::string>> transports;         // key 9
  std::optional<std::vector<CredentialParameters>> algorithms;  // key 10
  cbor::Map other;                                            // unknown keys, re-encoded as received

  // The value of an option, if the authenticator listed it.
  std::optional<bool> option(std::string_view name) const;
  // Whether key 2 lists this extension identifier.
  bool lists_extension(std::string_view name) const;
};

cbor::Map to_cbor(const MakeCredentialResponse& r);
cbor::Map to_cbor(const GetAssertionResponse& r);
cbor::Map to_cbor(const GetInfoResponse& r);
Result<MakeCredentialResponse> make_credential_response_from_cbor(const cbor::Map& m);
Result<GetAssertionResponse> get_assertion_response_from_cbor(const cbor::Map& m);
Result<GetInfoResponse> get_info_response_from_cbor(const cbor::Map& m);
// Decode a bare encoded getInfo map (as in the post-handshake message, key 1).
Result<GetInfoResponse> decode_get_info(ByteView cbor);

// Chrome-on-Android's getInfo (CR-auth BuildGetInfoResponse, docs/protocol.md §6.6), a reference value:
// {1: ["FIDO_2_0","FIDO_2_1"], 2: ["prf"], 3: 16 zero bytes, 4: {"rk": true, "uv": true},
//  9: ["cable","hybrid","internal"]}.
GetInfoResponse chrome_android_get_info();

// ---------------------------------------------------------------- framing (docs/protocol.md §8.2)

// Request = command byte || CBOR parameters (omitted when there are none).
Bytes encode_request(Command cmd, const std::optional<cbor::Map>& params = std::nullopt);
Bytes encode_request(const MakeCredentialRequest& r);
Bytes encode_request(const GetAssertionRequest& r);

struct RequestFrame {
  uint8_t command = 0;
  std::optional<cbor::Map> params;  // absent when the frame is just the command byte
};
// Splits a request; the parameters must be one CBOR map. Errors: ctap_invalid_length (empty),
// ctap_invalid_cbor, ctap_unexpected_type (not a map).
Result<RequestFrame> parse_request_frame(ByteView frame);
// Full decoders for the two parameterised commands (check the command byte too).
Result<MakeCredentialRequest> decode_make_credential_request(ByteView frame);
Result<GetAssertionRequest> decode_get_assertion_request(ByteView frame);

// Response = status byte || CBOR (CBOR only on success; may be absent, e.g. for selection).
Bytes encode_response(const cbor::Map& body);  // status 0x00 || CBOR
Bytes encode_response_status(uint8_t status);  // just the status byte (0x00 = OK, no body)
Bytes encode_response(const MakeCredentialResponse& r);
Bytes encode_response(const GetAssertionResponse& r);
Bytes encode_response(const GetInfoResponse& r);

struct ResponseFrame {
  uint8_t status = status::ok;
  std::optional<cbor::Map> body;  // only with status OK, when CBOR followed
};
// Splits a response without judging the status. Errors: ctap_invalid (empty, bad CBOR, not a map).
Result<ResponseFrame> parse_response_frame(ByteView frame);
// The decoded map of a successful response (empty when there was no CBOR), or the typed CTAP
// error for a non-zero status (status_error: Errc from status_errc, detail naming the byte).
Result<cbor::Map> parse_response(ByteView frame);
Result<MakeCredentialResponse> decode_make_credential_response(ByteView frame);
Result<GetAssertionResponse> decode_get_assertion_response(ByteView frame);
Result<GetInfoResponse> decode_get_info_response(ByteView frame);

// ---------------------------------------------------------------- authenticator data (WebAuthn §6.1)

namespace flags {
inline constexpr uint8_t up = 0x01;  // user present
inline constexpr uint8_t uv = 0x04;  // user verified
inline constexpr uint8_t be = 0x08;  // backup eligible
inline constexpr uint8_t bs = 0x10;  // backed up
inline constexpr uint8_t at = 0x40;  // attested credential data included
inline constexpr uint8_t ed = 0x80;  // extension data included
}  // namespace flags

struct AttestedCredentialData {
  std::array<uint8_t, 16> aaguid{};
  Bytes credential_id;     // at most 1023 bytes (WebAuthn credentialIdLength limit)
  cbor::Map public_key;    // COSE key
};

struct AuthenticatorData {
  crypto::Sha256Digest rp_id_hash{};
  uint8_t flags = 0;  // AT / ED are set by encode() from the presence of the fields below
  uint32_t sign_count = 0;
  std::optional<AttestedCredentialData> attested;
  std::optional<cbor::Map> extensions;

  bool user_present() const { return flags & flags::up; }
  bool user_verified() const { return flags & flags::uv; }

  // rpIdHash || flags || signCount BE32 || [aaguid || len BE16 || credId || COSE] || [extensions]
  Bytes encode() const;
  // Bounded, total parse: every length is checked against the bytes left; no trailing bytes.
  // Errors: ctap_invalid with a detail.
  static Result<AuthenticatorData> parse(ByteView raw);
};

// ---------------------------------------------------------------- WebAuthn helpers

// The attestation object {"fmt", "attStmt", "authData"} (canonical text-key order) of a response.
Bytes attestation_object(const MakeCredentialResponse& r);

// clientDataJSON exactly as a browser serialises it (WebAuthn §5.8.1.1):
// {"type":"webauthn.create","challenge":"<b64url>","origin":"<origin>","crossOrigin":false}
// type is "webauthn.create" or "webauthn.get". Strings are JSON-escaped.
std::string client_data_json(std::string_view type, ByteView challenge, std::string_view origin,
                             bool cross_origin = false);

}  // namespace hg::ctap
