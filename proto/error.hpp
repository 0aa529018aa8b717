// SPDX-License-Identifier: Apache-2.0
// Error values a person or a program can act on: a stable code, a human sentence,
// and optional detail. Parsers return Result<T>; nothing throws across a layer boundary.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hg {

// X(enumerator, "stable.code", "Human sentence.")
#define HG_ERROR_CODES(X)                                                                            \
  X(ok, "ok", "No error.")                                                                           \
  X(internal, "internal", "An internal error occurred; please report it.")                           \
  X(invalid_argument, "invalid_argument", "An argument was not valid.")                              \
  X(hex_invalid, "hex.invalid", "The text is not valid hexadecimal.")                                \
  X(base64_invalid, "base64.invalid", "The text is not valid base64url.")                            \
  X(digits_non_digit, "digits.non_digit", "The digit string contains a character that is not 0-9.") \
  X(digits_length, "digits.length", "The digit string has a length no byte string encodes to.")      \
  X(digits_range, "digits.range", "A digit group is larger than the bytes it stands for.")           \
  X(qr_prefix, "qr.prefix", "This is not a FIDO hybrid QR code (it must start with FIDO:/).")      \
  X(qr_empty, "qr.empty", "The QR code has no payload after FIDO:/.")                                \
  X(qr_cbor, "qr.cbor", "The QR code payload is not the CBOR map a hybrid QR code carries.")         \
  X(qr_missing_key, "qr.missing_key", "The QR code lacks its public key or secret.")                 \
  X(qr_bad_key, "qr.bad_key", "The QR code's public key is not a valid P-256 point.")                \
  X(qr_bad_secret, "qr.bad_secret", "The QR code's secret is not 16 bytes.")                         \
  X(qr_bad_field, "qr.bad_field", "A field of the QR code has the wrong type.")                      \
  X(cbor_malformed, "cbor.malformed", "The CBOR data is malformed or truncated.")                    \
  X(cbor_too_large, "cbor.too_large", "The CBOR data is larger or deeper than allowed.")             \
  X(cbor_not_canonical, "cbor.not_canonical", "The CBOR data is not in canonical form.")             \
  X(cbor_unsupported, "cbor.unsupported", "The CBOR data uses a feature this protocol does not allow (tags, floats, indefinite lengths).") \
  X(cbor_type, "cbor.type", "A CBOR field has the wrong type.")                                      \
  X(crypto, "crypto", "A cryptographic operation failed.")                                           \
  X(key_invalid, "key.invalid", "A public or private key is not valid.")                             \
  X(eid_length, "eid.length", "The advert is shorter than 20 bytes.")                                \
  X(eid_tag, "eid.tag", "The advert was not made with this QR code's key (tag mismatch).")         \
  X(eid_reserved, "eid.reserved", "The advert's reserved byte is not zero.")                         \
  X(eid_domain, "eid.domain", "The advert names an unassigned tunnel server domain.")                \
  X(domain_unknown, "domain.unknown", "The tunnel server domain ID is not assigned (2-255).")       \
  X(url_invalid, "url.invalid", "The URL or path is not valid.")                                     \
  X(noise_length, "noise.length", "A handshake message has the wrong length.")                       \
  X(noise_decrypt, "noise.decrypt", "The handshake failed: the peer does not know this QR code's secret, or the message was altered.") \
  X(noise_key, "noise.key", "The handshake carried an invalid public key.")                          \
  X(crypter_decrypt, "crypter.decrypt", "An encrypted message failed authentication (altered, replayed or out of order).") \
  X(crypter_padding, "crypter.padding", "An encrypted message has invalid padding.")                 \
  X(crypter_exhausted, "crypter.exhausted", "Too many messages were sent in this session.")          \
  X(frame_type, "frame.type", "A message has an unknown type byte.")                                 \
  X(frame_empty, "frame.empty", "A message is empty.")                                               \
  X(message_invalid, "message.invalid", "A protocol message is not valid.")                          \
  X(linking_signature, "linking.signature", "The phone's linking information has an invalid signature.") \
  X(linking_invalid, "linking.invalid", "The phone's linking information is malformed.")             \
  X(ctap_invalid, "ctap.invalid", "A CTAP2 message is malformed.")                                  \
  X(ctap_status, "ctap.status", "The authenticator reported an error.")                              \
  X(ctap_invalid_command, "ctap.invalid_command", "The authenticator does not support this CTAP2 command.") \
  X(ctap_invalid_parameter, "ctap.invalid_parameter", "A CTAP2 request parameter is not valid.") \
  X(ctap_invalid_length, "ctap.invalid_length", "A CTAP2 message has the wrong length.") \
  X(ctap_unexpected_type, "ctap.unexpected_type", "A CTAP2 field has the wrong CBOR type.") \
  X(ctap_invalid_cbor, "ctap.invalid_cbor", "A CTAP2 message is not valid CBOR.") \
  X(ctap_missing_parameter, "ctap.missing_parameter", "A CTAP2 request lacks a required parameter.") \
  X(ctap_credential_excluded, "ctap.credential_excluded", "This authenticator already holds a passkey for this account.") \
  X(ctap_unsupported_algorithm, "ctap.unsupported_algorithm", "The authenticator supports none of the requested key algorithms.") \
  X(ctap_operation_denied, "ctap.operation_denied", "The request was denied on the phone.") \
  X(ctap_unsupported_option, "ctap.unsupported_option", "The request asked for an option the authenticator does not support.") \
  X(ctap_invalid_option, "ctap.invalid_option", "The request set an option to a value the authenticator does not allow.") \
  X(ctap_cancelled, "ctap.cancelled", "The request was cancelled.") \
  X(ctap_no_credentials, "ctap.no_credentials", "The phone has no passkey for this site.") \
  X(ctap_user_action_timeout, "ctap.user_action_timeout", "The phone timed out waiting for the user.") \
  X(ctap_not_allowed, "ctap.not_allowed", "The authenticator does not allow this request now.") \
  X(ctap_other, "ctap.other", "The authenticator reported an unspecified error.") \
  X(store_permissions, "store.permissions", "The credential file is accessible by other users. Restrict it with 'chmod 600'.") \
  X(store_corrupt, "store.corrupt", "The credential file is damaged or is not a hybridgate credential file.") \
  X(io, "io", "A file could not be read or written.")                                             \
  X(ble_no_system_bus, "ble.no_system_bus", "The system D-Bus is not reachable (sandboxed app?). Allow access to the system bus, or use --radio loopback.") \
  X(ble_no_bluez, "ble.no_bluez", "BlueZ (bluetoothd) is not running. Start the bluetooth service.") \
  X(ble_no_adapter, "ble.no_adapter", "No Bluetooth adapter was found. Plug one in, or use --radio loopback for a local test.") \
  X(ble_adapter_off, "ble.adapter_off", "Bluetooth is switched off. Turn it on and try again.") \
  X(ble_rfkill, "ble.rfkill", "Bluetooth is blocked by rfkill (airplane mode?). Unblock it with 'rfkill unblock bluetooth'.") \
  X(ble_permission, "ble.permission", "Permission to use Bluetooth over D-Bus was denied. Check the D-Bus policy or the sandbox.") \
  X(ble_no_advertising, "ble.no_advertising", "This Bluetooth adapter cannot send LE adverts.") \
  X(ble_advertising_busy, "ble.advertising_busy", "Every advertising slot of this Bluetooth adapter is taken by other programs. Stop one of them (another hybridgate phone, a beacon) and try again.") \
  X(ble_failed, "ble.failed", "A Bluetooth operation failed.") \
  X(tunnel_unreachable, "tunnel.unreachable", "The tunnel server could not be reached. Check the network connection.") \
  X(tunnel_refused, "tunnel.refused", "The tunnel server refused the connection.") \
  X(tunnel_gone, "tunnel.gone", "The tunnel server says this linked phone is no longer linked (410).") \
  X(tunnel_protocol, "tunnel.protocol", "The tunnel server broke the protocol.") \
  X(tunnel_closed, "tunnel.closed", "The connection through the tunnel server closed.") \
  X(session_no_advert, "session.no_advert", "No phone answered this QR code in time. Bring the phone closer, turn its Bluetooth on, and scan the current QR code.") \
  X(session_handshake, "session.handshake", "The secure channel with the phone could not be set up.") \
  X(session_phone_closed, "session.phone_closed", "The phone closed the connection before finishing.") \
  X(session_deadline, "session.deadline", "The operation took too long and was stopped.") \
  X(session_cancelled, "session.cancelled", "The operation was cancelled.") \
  X(origin_invalid, "origin.invalid", "The origin is not a valid web origin (scheme://host[:port], nothing after it).") \
  X(origin_insecure, "origin.insecure", "The origin must use https:// (http:// is allowed only for localhost and loopback addresses).") \
  X(rp_id_invalid, "rp_id.invalid", "The relying party ID is not a valid domain name (no IP addresses, ports or non-ASCII; use the xn-- form of an IDN).") \
  X(rp_id_mismatch, "rp_id.mismatch", "The relying party ID is neither the origin's host nor a parent domain of it.") \
  X(rp_id_public_suffix, "rp_id.public_suffix", "The relying party ID is a public suffix (like com or github.io), which no site may claim.") \
  X(config_invalid, "config.invalid", "The hybridgate configuration (config file or HYBRIDGATE_* environment variable) is not valid.") \
  X(store_locked, "store.locked", "The credential file is locked by another process (another hybridgate using it). Try again once it is done.") \
  X(store_sealed, "store.sealed", "The credential file is sealed: give its passphrase, or open it on the machine whose TPM sealed it.") \
  X(store_passphrase, "store.passphrase", "The passphrase does not open this credential file. Nothing was changed; try again.")

enum class Errc {
#define HG_X(e, n, s) e,
  HG_ERROR_CODES(HG_X)
#undef HG_X
};

std::string_view errc_name(Errc c) noexcept;
std::string_view errc_sentence(Errc c) noexcept;

struct Error {
  Errc code = Errc::internal;
  std::string detail;  // optional; never contains secrets

  std::string_view name() const noexcept { return errc_name(code); }
  std::string_view sentence() const noexcept { return errc_sentence(code); }
  // "code: sentence (detail)"
  std::string to_string() const;
};

inline Error make_error(Errc c, std::string detail = {}) { return Error{c, std::move(detail)}; }

struct Unit {};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT implicit
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}      // NOLINT implicit
  Result(Errc c) : v_(std::in_place_index<1>, Error{c, {}}) {}      // NOLINT implicit

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

// Propagate an error: HG_TRY(auto x, expr);
#define HG_CONCAT_INNER(a, b) a##b
#define HG_CONCAT(a, b) HG_CONCAT_INNER(a, b)
#define HG_TRY_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                 \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
#define HG_TRY(decl, expr) HG_TRY_IMPL(HG_CONCAT(hg_try_, __LINE__), decl, expr)
#define HG_CHECK(expr)                                  \
  do {                                                  \
    auto hg_chk_ = (expr);                              \
    if (!hg_chk_.ok()) return std::move(hg_chk_).error(); \
  } while (0)

}  // namespace hg
