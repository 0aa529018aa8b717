// SPDX-License-Identifier: Apache-2.0
// What pam_hybridgate.so and `hybridgate-pam-enroll` share, in one place, over libhybridgate's C
// ABI only (include/hybridgate/hybridgate.h; no layer of the library linked in statically): the
// authfile (format, reading with ownership/mode checks, appending and counter updates through the
// library's private-file writer, hg_private_file_*), the raw CTAP requests (makeCredential at
// enrolment, getAssertion at sign-in: hg_ctap_*_request) and the checks of the phone's answers
// (the library's hg_ctap_read_* for the status, rpIdHash and form; here UP/UV, the ES256
// signature with the stored key through hg_assertion_verify_cose, the counter). No I/O to the
// phone here: the callers transact the bytes through hg_connection_transact.
//
// Authfile: text, one credential per line, '#' comments and blank lines ignored:
//
//   USER:CREDENTIAL_ID,COSE_PUBLIC_KEY,COUNTER[,FLAGS]
//
// CREDENTIAL_ID and COSE_PUBLIC_KEY base64url (no padding) — the phone's ES256 key as a canonical
// COSE key —, COUNTER the last signature counter seen (decimal), FLAGS what the enrolment
// saw ("up" or "up+uv"). A user may have several lines (several phones). The per-user file is
// ~USER/.config/hybridgate/pam_keys; a system-wide file holds the lines of many users.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <span>
#include <variant>

#include "hybridgate/hybridgate.h"

namespace hgpam {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// An error as the library names it: the numeric code (hg_errc) and a detail.
struct Error {
  hg_errc code = HG_E_INTERNAL;
  std::string detail;
  std::string name() const;                 // "store.corrupt"
  std::string to_string() const;            // "code: sentence (detail)", as the CLI prints it
  static Error from(const hg_error& e);     // a filled hg_error
};
inline Error make_error(hg_errc code, std::string detail = {}) { return Error{code, std::move(detail)}; }

struct Unit {};
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT implicit
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT implicit
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const Error& error() const& { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};
using Status = Result<Unit>;

// Who must own the authfile: nullopt = the effective user; a uid = that user (or root).
using FileOwner = std::optional<uid_t>;

std::string base64url_encode(ByteView data);
std::optional<Bytes> base64url_decode(std::string_view text);

// The CTAP rpId both sides use unless told otherwise (rp_id= / --rp-id). Not a web origin: the
// raw-CTAP path applies no WebAuthn RP ID rules. Independent of the host name, so a renamed
// machine keeps its enrolments.
inline constexpr std::string_view kDefaultRpId = "pam:hybridgate";
// The per-user authfile, relative to the user's home directory (from the password database).
inline constexpr std::string_view kUserAuthfile = ".config/hybridgate/pam_keys";
inline constexpr size_t kMaxAuthfileSize = 1 << 20;
inline constexpr size_t kMaxCredentialsPerUser = 32;  // the allowList sent to the phone

struct Credential {
  std::string user;
  Bytes id;
  Bytes cose_key;
  uint32_t counter = 0;
  std::string flags;  // "up" or "up+uv" at enrolment
};

// A user name the authfile can hold (no ':', ',', '#', whitespace or control characters; 1..256).
bool valid_user_name(std::string_view user);
bool valid_rp_id(std::string_view rp_id);

// Parses a whole authfile. store.corrupt names the line number (never its content).
Result<std::vector<Credential>> parse_authfile(std::string_view text);
std::string format_line(const Credential& c);
// The lines of `user`, in file order.
std::vector<Credential> credentials_of(const std::vector<Credential>& all, std::string_view user);

// Reads the authfile at `path` (nullopt-equivalent: an empty list when it does not exist). The
// file must be a regular file (a symlink is refused), owned by `owner` (or root) — or by the
// effective user when owner is nullopt — and without any group/other permission (store.permissions).
Result<std::vector<Credential>> read_authfile(const std::filesystem::path& path, FileOwner owner);
// Appends a credential under the file's lock (creating the file, mode 0600, and its directory,
// mode 0700). Fails with ctap.credential_excluded when the same credential ID is there already.
Status append_credential(const std::filesystem::path& path, const Credential& c, FileOwner owner);
// Stores `counter` for (user, credential id) under the file's lock, atomically. Fails (and leaves
// the file as it is) when the stored counter is not below `counter` any more (a concurrent sign-in
// with a clone of the credential), or when the line is gone.
Status store_counter(const std::filesystem::path& path, const std::string& user, ByteView credential_id,
                     uint32_t counter, FileOwner owner);

// ---- CTAP

// authenticatorMakeCredential (command byte || CBOR): ES256, non-discoverable, the given user
// handle and names, excludeList = the user's enrolled credentials (one phone, one enrolment).
Bytes make_credential_request(std::string_view rp_id, ByteView client_data_hash, ByteView user_id,
                              std::string_view user_name, std::string_view display_name,
                              const std::vector<Credential>& exclude);
// The new credential from the phone's makeCredential response (status || CBOR), checked: status
// OK, rpIdHash, UP, attested credential data, an ES256 COSE key on the curve. counter = the
// authData's; flags from UP/UV. Attestation is not checked (a phone's passkey has none to trust).
Result<Credential> parse_make_credential_response(ByteView response, std::string_view rp_id, const std::string& user);

// authenticatorGetAssertion: allowList = the user's credentials, up = true, uv = true when
// require_uv.
Bytes get_assertion_request(std::string_view rp_id, ByteView client_data_hash, const std::vector<Credential>& allow,
                            bool require_uv);

struct VerifiedAssertion {
  size_t index = 0;      // into the allow list given
  uint32_t counter = 0;  // the new signature counter
  bool user_verified = false;
};
// Checks the phone's getAssertion response against the allow list: status OK (a CTAP error
// status comes back as its ctap.* error, e.g. ctap.operation_denied), a credential of the list,
// rpIdHash = SHA-256(rp_id), UP, UV when required, the ES256 signature over authData ||
// clientDataHash with the stored key, and the counter rising (ctap.not_allowed "cloned" when it
// does not; both zero is accepted: an authenticator without a counter).
Result<VerifiedAssertion> verify_assertion(ByteView response, std::string_view rp_id, ByteView client_data_hash,
                                           const std::vector<Credential>& allow, bool require_uv);

// 32 fresh random bytes (OpenSSL's DRBG): the clientDataHash of one attempt (and a user handle).
std::array<uint8_t, 32> fresh_challenge();

}  // namespace hgpam
