// SPDX-License-Identifier: Apache-2.0
// The phone as a FIDO security key, minus the kernel: a KeyDevice takes the 64-byte reports a host
// writes to the security key and sends back the device's reports. Inside, the CTAPHID machine
// (ctaphid.hpp) frames messages; CTAP2 requests are answered here or forwarded unchanged to a
// phone through the desktop side's public façade (hybrid::Desktop::connect → Connection::transact).
//
//   hg::hybrid::Desktop desktop(config);                       // hybrid/settings.hpp's config
//   hg::key::KeyDevice key(desktop, [&](const Report& r) { write_to_host(r); }, callbacks);
//   key.receive(report);       // each report the host wrote (any thread; serialised inside)
//   key.host_gone();           // the host closed the device: a ceremony in progress is cancelled
//
// What is answered without the phone (docs/security-key.md says why for each):
//   authenticatorGetInfo              at once, fixed (get_info_response() below)
//   getAssertion with up = false      CTAP2_ERR_NO_CREDENTIALS (a silent probe; the phone cannot
//                                     be asked without a QR code or a wake-up the person sees)
//   makeCredential with up = false    CTAP2_ERR_INVALID_OPTION (CTAP 2.2 §6.1.2)
//   "select a key" requests           held with UPNEEDED keepalives until select() (the person
//   (authenticatorSelection; a        picks this key) or the host cancels (another key was
//   makeCredential for rp ".dummy",   touched); after select(): CTAP2_OK for authenticatorSelection,
//   over an empty clientDataJSON      CTAP2_ERR_PIN_NOT_SET for the dummy makeCredential (what
//   (libfido2's touch) or with an     hosts count as "touched")
//   empty pinUvAuthParam)
//   getNextAssertion                  CTAP2_ERR_NOT_ALLOWED (one tunnel per request)
//   clientPin, reset, other commands  CTAP1_ERR_INVALID_COMMAND (not offered in getInfo)
// makeCredential and getAssertion otherwise go to the phone: a remembered phone is woken (the
// desktop config's `phone`), else a QR code is shown through the callbacks. Keepalives say
// PROCESSING while connecting and UPNEEDED once the request is with the person (the first of
// each at once, then every keepalive_interval). CTAPHID_CANCEL,
// a resynchronising INIT or host_gone() end the ceremony (Desktop::cancel()); the host gets
// CTAP2_ERR_KEEPALIVE_CANCEL. A ceremony that fails answers CTAP2_ERR_USER_ACTION_TIMEOUT (no
// phone in time, a deadline) or CTAP1_ERR_OTHER (tunnel, radio, handshake errors); the reason
// goes to the log callback.
//
// The person's window (bridges/key/window.hpp) follows each request to the phone through
// KeyCallbacks::request_started / request_ended; its Cancel is decline() (the host gets
// CTAP2_ERR_OPERATION_DENIED) and its remembered phones are use_phone().
//
// Threads: receive()/host_gone()/select()/decline()/use_phone() from any thread; `send` and the callbacks are called
// from the KeyDevice's own threads (one at a time for `send`). A keepalive thread sleeps until
// the machine's next deadline (no polling while idle); a ceremony thread runs the blocking
// Desktop calls. The destructor cancels a ceremony and joins both.
#pragma once

#include <array>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "bridges/key/ctaphid.hpp"
#include "hybrid/desktop.hpp"

namespace hg::key {

// This authenticator's AAGUID (random, ours: 035b5059-b9d8-40bd-a991-dce4629e36b7).
inline constexpr std::array<uint8_t, 16> kAaguid = {0x03, 0x5b, 0x50, 0x59, 0xb9, 0xd8, 0x40, 0xbd,
                                                   0xa9, 0x91, 0xdc, 0xe4, 0x62, 0x9e, 0x36, 0xb7};
// Limits announced in getInfo (keys 7 and 8): hosts split longer allow/exclude lists themselves.
inline constexpr uint64_t kMaxCredentialCountInList = 64;
inline constexpr uint64_t kMaxCredentialIdLength = 1023;

// The getInfo response (status 0x00 ‖ canonical CBOR):
// {1: ["FIDO_2_0", "FIDO_2_1"], 3: kAaguid, 4: {"rk": true, "up": true, "uv": true, "plat": false},
//  5: 7609, 7: 64, 8: 1023, 9: ["usb", "hybrid"], 10: [{"alg": -7, "type": "public-key"}]}
// No extensions (hmac-secret is not mapped yet), no clientPin, no pinUvAuthToken.
Bytes get_info_response();

// A request that goes to the phone, as the person's window shows it (docs/security-key.md).
struct PhoneRequest {
  bool registration = false;  // makeCredential (else getAssertion)
  std::string rp_id;          // the site
  std::string account;        // registration: user.name (else user.displayName, else "")
  std::string phone;          // the remembered phone that is woken ("" = a QR code follows)
};

// How a request to the phone ended, for the window.
enum class RequestEnd {
  answered,        // the phone answered (whatever its CTAP status)
  host_cancelled,  // CTAPHID_CANCEL, a resynchronising INIT or the host went away
  declined,        // the person pressed Cancel in the window (decline())
  timed_out,       // no phone answered in time (the host gets USER_ACTION_TIMEOUT): nothing to
                   // show the person but the host's own error
  failed,          // tunnel/radio errors: `detail` says what
};

struct KeyCallbacks {
  // The FIDO:/ URL of a ceremony's QR code (holds a secret: show it, never log it). The desktop
  // config's qr_url_file also receives it (hybrid::Desktop writes it).
  std::function<void(const std::string& fido_url)> qr;
  // Lines for the journal (no secrets).
  std::function<void(const std::string& line)> log;
  // A request is about to go to the phone (before the QR code or the wake-up): open the window.
  // Called from the ceremony thread, with no lock held: it may call decline()/use_phone().
  std::function<void(const PhoneRequest&)> request_started;
  // That request ended (the host has its answer, or gets it next): close the window.
  // `detail` is a sentence for the person (no secrets), "" when answered.
  std::function<void(RequestEnd, const std::string& detail)> request_ended;
};

class KeyDevice {
 public:
  using Send = std::function<void(const Report&)>;
  // `desktop` must outlive the KeyDevice and is used by it alone.
  KeyDevice(hybrid::Desktop& desktop, Send send, KeyCallbacks callbacks = {}, CtapHidConfig hid = {});
  ~KeyDevice();
  KeyDevice(const KeyDevice&) = delete;
  KeyDevice& operator=(const KeyDevice&) = delete;

  // One report the host wrote (kReportSize bytes, no report ID). Any thread.
  void receive(ByteView report);
  // The host went away (the last reader closed the device). Any thread.
  void host_gone();
  // The person chose this key (the window's button): answers a held "select a key" request.
  // Returns false when none was held. Any thread.
  bool select();
  // The person pressed Cancel in the window: the request with the phone ends and the host gets
  // CTAP2_ERR_OPERATION_DENIED (what a key answers when its person refuses). False: none running.
  bool decline();
  // The person picked a remembered phone in the window: the QR code (or the phone woken) is
  // dropped and this phone is woken instead. False: no request with the phone, or not connecting.
  bool use_phone(const std::string& name);

 private:
  class Core;
  std::unique_ptr<Core> core_;
};

}  // namespace hg::key
