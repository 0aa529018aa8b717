// SPDX-License-Identifier: Apache-2.0
// The desktop side as one blocking object: what the CLI, the C ABI and the bridges call.
//
//   hg::hybrid::Desktop d(config);
//   auto cred = d.create(options_json, "https://example.com", callbacks);   // shows a QR code
//   auto cred = d.get(options_json, "https://example.com", callbacks, "Pixel"); // remembered phone
//
// Each call runs one ceremony to completion on the calling thread (its own io_context) and
// returns the PublicKeyCredential JSON or an Error (stable code + sentence, proto/error.hpp).
// cancel() may be called from any thread: the running call (or the next one started before it
// returned) ends with session.cancelled, closing the tunnel so the phone learns at once.
// One call at a time per Desktop object; separate objects are independent.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ble/radio.hpp"
#include "hybrid/types.hpp"
#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/qr_payload.hpp"

namespace hg::hybrid {

struct DesktopConfig {
  std::string tunnel_url;          // every tunnel domain → this base URL; "" = the public servers
  std::string ca_file;             // extra trusted CA (PEM) for wss://
  ble::RadioOptions radio;         // auto (BlueZ if usable, else loopback), bluez, loopback
  std::filesystem::path links_file;  // remembered phones; "" = $XDG_DATA_HOME/hybridgate/links.json
  bool link_phone = false;         // QR codes offer linking; a phone that agrees is remembered
  std::string phone;               // a remembered phone used when a call names none ("" = QR code)
  // Also write the FIDO:/ URL here (0600, atomically); "" = no. Removed again once a phone has
  // answered the QR code or the attempt has ended, so nobody picks up a stale one.
  std::filesystem::path qr_url_file;
  DesktopDeadlines deadlines;
};

struct DesktopCallbacks {
  // The FIDO:/ URL to show as a QR code (not called for a remembered phone). Holds a secret:
  // show it, never log it.
  std::function<void(const std::string& fido_url)> qr;
  std::function<void(Stage, const std::string& detail)> stage;
  // Sentences for the person (e.g. "remembered phone 'Pixel'", "the phone does not offer PRF").
  std::function<void(const std::string& sentence)> notice;
};

struct RememberedPhone {
  std::string name;
  uint16_t domain_id = 0;
  std::string tunnel_url;
  uint64_t created = 0;     // Unix time
  std::string contact_tag;  // first 4 bytes of SHA-256(contact ID), hex: tells phones apart
};

// An open, end-to-end encrypted connection to a phone (after the handshake and the post-handshake
// message). Several CTAP requests may go over one connection (getInfo → makeCredential;
// getAssertion → getNextAssertion), as Chromium's tunnel device does.
class Connection {
 public:
  virtual ~Connection() = default;
  // The phone's getInfo (CBOR map, no status byte) from the post-handshake message.
  virtual ByteView get_info() const = 0;
  // One CTAP request (command ‖ CBOR) → its response (status ‖ CBOR). Blocks until the phone
  // answers, the response deadline passes, or cancel() is called.
  virtual Result<Bytes> transact(ByteView request) = 0;
};

class Desktop {
 public:
  explicit Desktop(DesktopConfig config);
  ~Desktop();
  Desktop(const Desktop&) = delete;
  Desktop& operator=(const Desktop&) = delete;

  // navigator.credentials.create(): PublicKeyCredentialCreationOptionsJSON in (webauthn/webauthn.hpp),
  // the registration's PublicKeyCredential JSON out. The options' `timeout` (ms) bounds the whole
  // call: when it passes the ceremony is cancelled and ends with session.deadline. A QR ceremony
  // with no `qr` callback and no qr_url_file fails at once (invalid_argument): nobody could scan it. `phone` = a remembered phone's name (no QR);
  // "" = config().phone, and when that is "" too, a QR code.
  Result<nlohmann::json> create(std::string_view options_json, std::string_view origin,
                                const DesktopCallbacks& callbacks, const std::string& phone = {});
  // navigator.credentials.get(): PublicKeyCredentialRequestOptionsJSON in, the assertion out.
  Result<nlohmann::json> get(std::string_view options_json, std::string_view origin,
                             const DesktopCallbacks& callbacks, const std::string& phone = {});

  // Raw CTAP for callers that are not WebAuthn clients (an SSH provider with its ssh: application,
  // a PAM module): connects (QR or remembered phone), then calls `use` with the open connection
  // (transact() as often as needed), then closes it. `hint` says what the QR code announces.
  using ConnectionUser = std::function<Status(Connection&)>;
  Status with_connection(qr_payload::RequestType hint, const DesktopCallbacks& callbacks, const std::string& phone,
                         const ConnectionUser& use);

  // The same as an object, for callers whose requests arrive one by one (python-fido2's
  // CtapDevice, the C ABI's hg_connection): connects now; the tunnel stays open until the object
  // is destroyed (which closes it, so the phone learns at once, and remembers a phone that
  // offered a link). The object uses this Desktop: destroy it before the Desktop, and start no
  // other call on the Desktop while it lives (cancel() still ends a transact() in progress).
  // The callbacks are copied.
  Result<std::unique_ptr<Connection>> connect(qr_payload::RequestType hint, const DesktopCallbacks& callbacks,
                                              const std::string& phone = {});

  // The configuration this Desktop was made with.
  const DesktopConfig& config() const;

  // Remembered phones.
  Result<std::vector<RememberedPhone>> phones() const;
  Result<bool> forget(const std::string& name);  // false: no phone of that name

  // Ends the running call with session.cancelled. Any thread; idempotent.
  void cancel();

 public:
  struct Impl;  // implementation detail (hybrid/desktop.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg::hybrid
