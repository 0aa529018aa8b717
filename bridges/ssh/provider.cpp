// SPDX-License-Identifier: Apache-2.0
// libhybridgate-sk.so: OpenSSH's security-key middleware (sk_api.h, version 10) over the C ABI
// of libhybridgate. ssh-keygen -w / ssh -o SecurityKeyProvider / ssh-add -S load it into
// ssh-sk-helper; each call connects to a phone (a QR code on the controlling terminal, or a
// remembered phone woken through the relay), sends raw CTAP2 requests and turns the answers into
// OpenSSH's structures (both in sk_core, over the project's CTAP codecs). docs/ssh.md says what the person sees.
//
// Resident keys: a phone offers no credential management over hybrid, and a getAssertion answer
// carries no public key (the user ID cannot carry it either: it is fixed before the phone makes
// the key). sk_load_resident_keys therefore asks for an assertion over "ssh:" without an allow
// list (the person approves and picks the account), then a second, silent one (up=false) for the
// same credential, and recovers the ECDSA P-256 public key from the two signatures
// (hgsk::p256_key_candidates / p256_key_verifying_both). Ed25519 keys cannot be recovered from signatures, so
// ed25519-sk resident keys are enrolled but cannot be loaded back from a phone (docs/ssh.md).
#include "sk_api.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bridges/key/bus_client.hpp"
#include "bridges/ssh/sk_core.hpp"
#include "hybridgate/hybridgate.h"

#define HG_SK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using hgsk::Bytes;
using hgsk::ByteView;
using hgsk::KeyType;

// ------------------------------------------------------------------ errors for the person

// What failed, as OpenSSH wants it (an SSH_SK_ERR_*), with our sentence already printed on stderr
// (ssh-sk-helper's stderr is ssh's / ssh-keygen's).
struct Failure {
  int code;
};

void say(const std::string& line) {
  const std::string text = "hybridgate: " + line + "\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, text.data(), text.size());
}

[[noreturn]] void fail(int code, const std::string& line) {
  say(line);
  throw Failure{code};
}

// A library error. From the phone's answer: its CTAP status as OpenSSH's code (an excluded
// credential, an unsupported algorithm; a key the phone does not hold is "device not found", which
// lets ssh go on with its next key as it does for a USB key that is not plugged in), or a malformed
// answer. The phone never came (no advert, relay unreachable, radio): "device not found".
[[noreturn]] void fail_hg(const hg_error& e, const char* context = nullptr) {
  const std::string_view code(e.code);
  const std::string tail = " [" + std::string(e.code) + (context ? std::string(", ") + context : std::string()) + "]";
  switch (hg_error_code(&e)) {
    case HG_E_CTAP_INVALID: fail(SSH_SK_ERR_GENERAL, "The phone's answer is malformed (" + std::string(e.message) + ").");
    case HG_E_CTAP_CREDENTIAL_EXCLUDED: fail(SSH_SK_ERR_CREDENTIAL_EXISTS, e.message + tail);
    case HG_E_CTAP_UNSUPPORTED_ALGORITHM: fail(SSH_SK_ERR_UNSUPPORTED, e.message + tail);
    case HG_E_CTAP_NO_CREDENTIALS: fail(SSH_SK_ERR_DEVICE_NOT_FOUND, e.message + tail);
    default: break;
  }
  const bool not_found = code == "session.no_advert" || code.starts_with("tunnel.") || code.starts_with("ble.");
  fail(not_found ? SSH_SK_ERR_DEVICE_NOT_FOUND : SSH_SK_ERR_GENERAL, e.message + tail);
}

// A malformed answer from the phone (what the provider's own checks refused).
[[noreturn]] void bad_answer(const std::string& detail) {
  fail(SSH_SK_ERR_GENERAL, "The phone's answer is malformed (" + detail + ").");
}

// ------------------------------------------------------------------ small owners

struct HgFree {
  void operator()(void* p) const { hg_free(p); }
};
struct ConfigFree {
  void operator()(hg_config* p) const { hg_config_free(&p); }
};
struct DesktopFree {
  void operator()(hg_desktop* p) const { hg_desktop_free(&p); }
};
struct ConnectionFree {
  void operator()(hg_connection* p) const { hg_connection_close(&p); }  // closes the tunnel
};
struct CredentialFree {
  void operator()(hg_credential* p) const { hg_credential_free(&p); }
};
struct AssertionFree {
  void operator()(hg_assertion* p) const { hg_assertion_free(&p); }
};
using Credential = std::unique_ptr<hg_credential, CredentialFree>;
using Assertion = std::unique_ptr<hg_assertion, AssertionFree>;

// An accessor's bytes as a vector.
template <typename T>
Bytes bytes_of(void (*accessor)(const T*, const uint8_t**, size_t*), const T* object) {
  const uint8_t* p = nullptr;
  size_t n = 0;
  accessor(object, &p, &n);
  return n ? Bytes(p, p + n) : Bytes();
}

// A one-entry list of credential IDs.
struct OneId {
  explicit OneId(const Bytes& id) : ptr(id.data()), len(id.size()) {}
  const uint8_t* ptr;
  size_t len;
  hg_id_list list() const { return hg_id_list{&ptr, &len, 1}; }
};


// ------------------------------------------------------------------ the phone connection

const char* stage_line(std::string_view stage) {
  if (stage == "scanning") return "waiting for the phone to scan the QR code";
  if (stage == "phone_found") return "phone found";
  if (stage == "tunnel_connected") return "connected to the phone through the relay";
  if (stage == "waiting_for_user") return "approve on the phone";
  return nullptr;
}

// Where the person sees things: the controlling terminal when there is one (ssh-sk-helper's
// stdout is OpenSSH's protocol pipe; its stderr is the user's, but a QR code belongs on the
// terminal), else stderr for progress lines and the QR URL file for the code.
class Screen {
 public:
  Screen() { fd_ = ::open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC); }
  ~Screen() {
    if (fd_ >= 0) ::close(fd_);
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
  bool has_tty() const { return fd_ >= 0; }
  void line(const std::string& text) const {
    if (fd_ < 0) return say(text);
    const std::string s = "hybridgate: " + text + "\r\n";
    write_all(s);
  }
  void raw(const std::string& text) const {
    if (fd_ >= 0) write_all(text);
  }

 private:
  void write_all(const std::string& s) const {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::write(fd_, s.data() + off, s.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      off += size_t(n);
    }
  }
  int fd_ = -1;
};

class Phone {
 public:
  // `purpose` completes "scan this QR code with your phone to ...".
  // `site` and `account` are what the security key's window shows when there is no terminal.
  Phone(hg_request_hint hint, const std::string& device, std::string purpose, std::string site = "ssh:",
        std::string account = {})
      : purpose_(std::move(purpose)), site_(std::move(site)), account_(std::move(account)) {
    hg_error err{};
    cfg_.reset(hg_config_new());
    if (!cfg_) fail(SSH_SK_ERR_GENERAL, "out of memory");
    if (hg_config_load(cfg_.get(), &err) != HG_OK) fail_hg(err);
    std::string phone = device;
    if (phone.empty()) phone = setting("phone");
    qr_url_file_ = setting("qr_url_file");
    if (phone.empty() && !screen_.has_tty() && qr_url_file_.empty() && !hg::key::KeyWindowClient::available())
      fail(SSH_SK_ERR_DEVICE_NOT_FOUND,
           "There is no terminal to show the QR code on: run this from a terminal, run `hybridgate key` in the "
           "graphical session (its window shows it), set HYBRIDGATE_QR_URL_FILE (or qr_url_file in the "
           "configuration) for a program that shows it, or use a remembered phone (HYBRIDGATE_PHONE).");
    desktop_.reset(hg_desktop_new(cfg_.get(), &err));
    if (!desktop_) fail_hg(err);
    hg_desktop_set_callbacks(desktop_.get(), &Phone::on_qr, &Phone::on_stage, &Phone::on_notice, this);
    if (!phone.empty()) screen_.line("asking the phone '" + phone + "' (no QR code): " + purpose_);
    conn_.reset(hg_desktop_connect(desktop_.get(), hint, phone.empty() ? nullptr : phone.c_str(), &err));
    if (!conn_) fail_hg(err);
    const uint8_t* info = nullptr;
    size_t info_len = 0;
    if (hg_connection_get_info(conn_.get(), &info, &info_len, &err) != HG_OK) fail_hg(err);
    info_.assign(info, info + info_len);
  }
  ~Phone() = default;
  Phone(const Phone&) = delete;
  Phone& operator=(const Phone&) = delete;

  // Whether the phone's getInfo lists this COSE algorithm (a phone without the list offers ES256).
  bool offers(KeyType type) const { return hg_ctap_info_offers(info_.data(), info_.size(), hgsk::cose_alg(type)) == 1; }

  // makeCredential through the library (request built, answer decoded and checked for `app`).
  Credential make_credential(const std::string& app, const Bytes& cdh, const std::string& user, KeyType type,
                             unsigned flags, const char* context) {
    hg_error err{};
    hg_credential* c = nullptr;
    const Bytes uid = hgsk::openssh_user_id(user);
    const std::string name = user.empty() ? "openssh" : user;
    // rp.name is sent because phones require it (Chrome on Android refuses a request without).
    const std::string rp_name = "OpenSSH " + app;
    if (hg_connection_make_credential(conn_.get(), app.c_str(), rp_name.c_str(), cdh.data(), uid.data(), uid.size(),
                                      name.c_str(), name.c_str(), hgsk::cose_alg(type), nullptr, flags, &c,
                                      &err) != HG_OK)
      fail_hg(err, context);
    return Credential(c);
  }

  // getAssertion (for a credential ID, or for resident keys with none) or getNextAssertion (next).
  // With `none_is_empty`, a phone holding no credential gives an empty result instead of failing.
  Assertion get_assertion(const std::string& app, const Bytes& cdh, const Bytes* id, unsigned flags, const char* context,
                          bool next = false, bool none_is_empty = false) {
    hg_error err{};
    hg_assertion* a = nullptr;
    int rc;
    if (next) {
      rc = hg_connection_get_next_assertion(conn_.get(), app.c_str(), &a, &err);
    } else if (id != nullptr) {
      const OneId one(*id);
      const hg_id_list list = one.list();
      rc = hg_connection_get_assertion(conn_.get(), app.c_str(), cdh.data(), &list, flags, &a, &err);
    } else {
      rc = hg_connection_get_assertion(conn_.get(), app.c_str(), cdh.data(), nullptr, flags, &a, &err);
    }
    if (rc != HG_OK) {
      if (none_is_empty && hg_error_code(&err) == HG_E_CTAP_NO_CREDENTIALS) return Assertion();
      fail_hg(err, context);
    }
    return Assertion(a);
  }

 private:
  std::string setting(const char* key) {
    hg_error err{};
    char* v = nullptr;
    if (hg_config_get(cfg_.get(), key, &v, &err) != HG_OK) fail_hg(err);
    std::string out(v ? v : "");
    hg_free(v);
    return out;
  }

  static void on_qr(void* user, const char* url) {
    auto* self = static_cast<Phone*>(user);
    if (!self->screen_.has_tty()) {
      // No terminal (ssh-agent, a GUI): the security key daemon's window, when it runs.
      hg_desktop* desktop = self->desktop_.get();
      self->window_ = hg::key::KeyWindowClient::show(self->site_, self->account_, url,
                                                     [desktop] { hg_desktop_cancel(desktop); });
      if (self->window_) {
        say("the QR code to scan is shown in the security key's window");
      } else if (!self->qr_url_file_.empty()) {
        // The library wrote the URL to the configured file before this call.
        say("the QR code to scan is in the QR URL file (" + self->qr_url_file_ + ")");
      }
      return;
    }
    hg_error err{};
    char* text = nullptr;
    if (hg_qr_terminal(url, 0, &text, &err) != HG_OK) {
      self->screen_.line("cannot draw the QR code: " + std::string(err.message));
      return;
    }
    std::string drawing(text);
    hg_free(text);
    // The terminal may be in raw mode (ssh's askpass, a pty): end lines with CR LF.
    std::string crlf;
    crlf.reserve(drawing.size() + 64);
    for (char c : drawing) {
      if (c == '\n') crlf += '\r';
      crlf += c;
    }
    self->screen_.line("scan this QR code with your phone to " + self->purpose_ + ":");
    self->screen_.raw(crlf);
  }
  static void on_stage(void* user, const char* stage, const char*) {
    auto* self = static_cast<Phone*>(user);
    if (std::string_view(stage) == "tunnel_connected") self->window_.reset();  // scanned: close it
    // Once each: `ssh-keygen -K` sends several requests over one connection, and the person
    // approves once.
    if (const char* l = stage_line(stage); l != nullptr && self->said_.insert(l).second) self->screen_.line(l);
  }
  static void on_notice(void* user, const char* sentence) { static_cast<Phone*>(user)->screen_.line(sentence); }

  Screen screen_;
  std::string purpose_;
  std::string qr_url_file_;
  // Destroyed in reverse: the connection (tunnel closed), then its desktop, then the config.
  std::unique_ptr<hg_config, ConfigFree> cfg_;
  std::unique_ptr<hg_desktop, DesktopFree> desktop_;
  std::unique_ptr<hg_connection, ConnectionFree> conn_;
  std::unique_ptr<hg::key::KeyWindowClient> window_;  // the QR code in the key's window (first to go)
  std::string site_, account_;
  std::set<std::string> said_;  // the progress lines shown so far
  Bytes info_;  // the phone's getInfo (CBOR)
};

// ------------------------------------------------------------------ options, results

std::string option(sk_option** options, std::string_view name) {
  for (size_t i = 0; options && options[i]; ++i) {
    if (options[i]->name && name == options[i]->name) return options[i]->value ? options[i]->value : "";
  }
  return {};
}

void check_options(sk_option** options) {
  for (size_t i = 0; options && options[i]; ++i) {
    const sk_option* o = options[i];
    if (!o->name) continue;
    const std::string_view n(o->name);
    if (n != "device" && n != "user" && o->required)
      fail(SSH_SK_ERR_UNSUPPORTED, "the option '" + std::string(n) + "' is not supported");
  }
}

uint8_t* dup_bytes(const Bytes& b, size_t* len) {
  *len = 0;
  if (b.empty()) return nullptr;
  auto* p = static_cast<uint8_t*>(std::malloc(b.size()));
  if (!p) fail(SSH_SK_ERR_GENERAL, "out of memory");
  std::memcpy(p, b.data(), b.size());
  *len = b.size();
  return p;
}

void free_enroll_fields(sk_enroll_response* r) {
  std::free(r->public_key);
  std::free(r->key_handle);
  std::free(r->signature);
  std::free(r->attestation_cert);
  std::free(r->authdata);
}

KeyType key_type(uint32_t alg) {
  if (alg == SSH_SK_ECDSA) return KeyType::ecdsa_p256;
  if (alg == SSH_SK_ED25519) return KeyType::ed25519;
  fail(SSH_SK_ERR_UNSUPPORTED, "unknown key algorithm " + std::to_string(alg));
}

Bytes sha256_of(const uint8_t* data, size_t len) { return hgsk::sha256(ByteView(data, len)); }

template <typename F>
int guarded(F&& body) noexcept {
  try {
    return body();
  } catch (const Failure& f) {
    return f.code;
  } catch (...) {
    say("internal error in the security-key provider");
    return SSH_SK_ERR_GENERAL;
  }
}

// ------------------------------------------------------------------ the three operations

int enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application, uint8_t flags,
           sk_option** options, sk_enroll_response** out) {
  if (!out || !application || !*application || (!challenge && challenge_len))
    fail(SSH_SK_ERR_GENERAL, "sk_enroll: missing arguments");
  *out = nullptr;
  check_options(options);
  const KeyType type = key_type(alg);
  const std::string app(application);
  const std::string user = option(options, "user");
  const bool rk = flags & SSH_SK_RESIDENT_KEY;
  const bool uv = flags & SSH_SK_USER_VERIFICATION_REQD;

  Phone phone(HG_HINT_MAKE_CREDENTIAL, option(options, "device"), "create the SSH key for '" + app + "'", app,
              option(options, "user").empty() ? "SSH key" : option(options, "user"));
  if (!phone.offers(type))
    fail(SSH_SK_ERR_UNSUPPORTED, std::string("The phone does not offer ") +
                                     (type == KeyType::ed25519 ? "Ed25519 (EdDSA) keys; use -t ecdsa-sk."
                                                               : "ECDSA P-256 keys."));
  if (rk && type == KeyType::ed25519)
    say("note: an ed25519-sk resident key cannot be loaded back from a phone with ssh-keygen -K (use ecdsa-sk "
        "for that); the key file works as usual");

  // The clientDataHash is SHA-256 of OpenSSH's challenge, as OpenSSH's own provider sends it.
  const Bytes cdh = sha256_of(challenge, challenge_len);
  const Credential e = phone.make_credential(app, cdh, user, type,
                                             (rk ? HG_CTAP_RESIDENT_KEY : 0u) | (uv ? HG_CTAP_USER_VERIFICATION : 0u),
                                             "creating the key");
  if (uv && !(hg_credential_flags(e.get()) & HG_AUTH_DATA_UV))
    fail(SSH_SK_ERR_GENERAL, "The phone did not verify the user (-O verify-required).");

  auto* r = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
  if (!r) fail(SSH_SK_ERR_GENERAL, "out of memory");
  try {
    r->flags = flags;
    r->public_key = dup_bytes(bytes_of(hg_credential_public_key, e.get()), &r->public_key_len);
    r->key_handle = dup_bytes(bytes_of(hg_credential_id, e.get()), &r->key_handle_len);
    r->signature = dup_bytes(bytes_of(hg_credential_attestation_signature, e.get()), &r->signature_len);
    r->attestation_cert = dup_bytes(bytes_of(hg_credential_attestation_certificate, e.get()), &r->attestation_cert_len);
    r->authdata = dup_bytes(bytes_of(hg_credential_auth_data, e.get()), &r->authdata_len);
  } catch (...) {
    free_enroll_fields(r);
    std::free(r);
    throw;
  }
  *out = r;
  return 0;
}

int sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application, const uint8_t* key_handle,
         size_t key_handle_len, uint8_t flags, sk_option** options, sk_sign_response** out) {
  if (!out || !application || !*application || !key_handle || !key_handle_len || (!data && data_len))
    fail(SSH_SK_ERR_GENERAL, "sk_sign: missing arguments");
  *out = nullptr;
  check_options(options);
  const KeyType type = key_type(alg);
  const std::string app(application);
  const Bytes id(key_handle, key_handle + key_handle_len);
  // OpenSSH's message is hashed into the clientDataHash; the authenticator signs authData || it,
  // which is what sshd verifies.
  const Bytes cdh = sha256_of(data, data_len);
  const bool up = flags & SSH_SK_USER_PRESENCE_REQD;
  const bool uv = flags & SSH_SK_USER_VERIFICATION_REQD;

  Phone phone(HG_HINT_GET_ASSERTION, option(options, "device"), "sign in with the SSH key for '" + app + "'", app);
  const Assertion a = phone.get_assertion(
      app, cdh, &id, (up ? 0u : HG_CTAP_NO_USER_PRESENCE) | (uv ? HG_CTAP_USER_VERIFICATION : 0u), "signing");
  const auto sig = hgsk::ssh_signature(type, bytes_of(hg_assertion_signature, a.get()));
  if (!sig) bad_answer(type == KeyType::ed25519 ? "an Ed25519 signature is not 64 bytes" : "the ECDSA signature is not DER");

  auto* r = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
  if (!r) fail(SSH_SK_ERR_GENERAL, "out of memory");
  try {
    r->flags = hg_assertion_flags(a.get());
    r->counter = hg_assertion_sign_count(a.get());
    r->sig_r = dup_bytes(sig->r, &r->sig_r_len);
    r->sig_s = dup_bytes(sig->s, &r->sig_s_len);
  } catch (...) {
    std::free(r->sig_r);
    std::free(r->sig_s);
    std::free(r);
    throw;
  }
  *out = r;
  return 0;
}

void free_resident_keys(sk_resident_key** rks, size_t n) {
  for (size_t i = 0; rks && i < n; ++i) {
    if (!rks[i]) continue;
    std::free(rks[i]->application);
    free_enroll_fields(&rks[i]->key);
    std::free(rks[i]->user_id);
    std::free(rks[i]);
  }
  std::free(rks);
}

int load_resident(sk_option** options, sk_resident_key*** out, size_t* nout) {
  if (!out || !nout) fail(SSH_SK_ERR_GENERAL, "sk_load_resident_keys: missing arguments");
  *out = nullptr;
  *nout = 0;
  check_options(options);
  const std::string app(hgsk::kResidentApplication);

  Phone phone(HG_HINT_GET_ASSERTION, option(options, "device"), "load your resident SSH keys");
  // 1. The person approves and picks (the phone shows the accounts of "ssh:").
  struct Found {
    hgsk::Signed signed_;
    Bytes id, user_id;
  };
  std::vector<Found> found;
  auto keep = [&](const Assertion& a) {
    found.push_back(Found{{bytes_of(hg_assertion_auth_data, a.get()), bytes_of(hg_assertion_signature, a.get())},
                          bytes_of(hg_assertion_credential_id, a.get()), bytes_of(hg_assertion_user_id, a.get())});
  };
  const Bytes cdh1 = hgsk::random32();
  size_t total = 0;
  {
    const Assertion first = phone.get_assertion(app, cdh1, nullptr, 0, "finding resident keys", false, true);
    if (!first) {
      say("the phone holds no resident SSH keys (of the application ssh:)");
      return 0;
    }
    total = hg_assertion_count(first.get());
    keep(first);
  }
  for (size_t i = 1; i < total; ++i) keep(phone.get_assertion(app, cdh1, nullptr, 0, "finding resident keys", true));

  // 2. For each: a second, silent signature, and the one key that verifies both.
  std::vector<sk_resident_key*> keys;
  try {
    for (const Found& a : found) {
      const auto candidates = hgsk::p256_key_candidates(a.signed_, cdh1);
      if (candidates.empty()) {
        say("skipping a resident key that is not ECDSA P-256 (an Ed25519 key cannot be loaded from a phone)");
        continue;
      }
      const Bytes cdh2 = hgsk::random32();
      const Assertion b = phone.get_assertion(app, cdh2, &a.id, HG_CTAP_NO_USER_PRESENCE, "reading the resident key");
      const hgsk::Signed second{bytes_of(hg_assertion_auth_data, b.get()), bytes_of(hg_assertion_signature, b.get())};
      const std::optional<Bytes> pub = hgsk::p256_key_verifying_both(candidates, a.signed_, cdh1, second, cdh2);
      if (!pub) bad_answer("no public key verifies the resident key's signatures");
      auto* rk = static_cast<sk_resident_key*>(std::calloc(1, sizeof(sk_resident_key)));
      if (!rk) fail(SSH_SK_ERR_GENERAL, "out of memory");
      keys.push_back(rk);
      rk->alg = SSH_SK_ECDSA;
      rk->slot = keys.size() - 1;
      rk->application = strdup(app.c_str());
      if (!rk->application) fail(SSH_SK_ERR_GENERAL, "out of memory");
      rk->key.flags = SSH_SK_USER_PRESENCE_REQD | SSH_SK_RESIDENT_KEY;
      rk->key.public_key = dup_bytes(*pub, &rk->key.public_key_len);
      rk->key.key_handle = dup_bytes(a.id, &rk->key.key_handle_len);
      rk->flags = rk->key.flags;
      Bytes uid = a.user_id.empty() ? Bytes(hgsk::kOpenSshUserIdLen, 0) : a.user_id;
      rk->user_id = dup_bytes(uid, &rk->user_id_len);
    }
  } catch (...) {
    auto** arr = static_cast<sk_resident_key**>(std::calloc(keys.size() + 1, sizeof(sk_resident_key*)));
    for (size_t i = 0; i < keys.size(); ++i) {
      if (arr) arr[i] = keys[i];
    }
    if (arr) free_resident_keys(arr, keys.size());
    throw;
  }
  auto** arr = static_cast<sk_resident_key**>(std::calloc(keys.size() + 1, sizeof(sk_resident_key*)));
  if (!arr) {
    for (auto* k : keys) {
      std::free(k->application);
      free_enroll_fields(&k->key);
      std::free(k->user_id);
      std::free(k);
    }
    fail(SSH_SK_ERR_GENERAL, "out of memory");
  }
  for (size_t i = 0; i < keys.size(); ++i) arr[i] = keys[i];
  *out = arr;
  *nout = keys.size();
  return 0;
}

}  // namespace

HG_SK_EXPORT uint32_t sk_api_version(void) { return SSH_SK_VERSION_MAJOR; }

HG_SK_EXPORT int sk_enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application,
                           uint8_t flags, const char* pin, sk_option** options, sk_enroll_response** enroll_response) {
  (void)pin;  // the phone verifies the person itself (screen lock); there is no PIN to send
  return guarded([&] { return enroll(alg, challenge, challenge_len, application, flags, options, enroll_response); });
}

HG_SK_EXPORT int sk_sign(uint32_t alg, const uint8_t* data, size_t data_len, const char* application,
                         const uint8_t* key_handle, size_t key_handle_len, uint8_t flags, const char* pin,
                         sk_option** options, sk_sign_response** sign_response) {
  (void)pin;
  return guarded([&] {
    return sign(alg, data, data_len, application, key_handle, key_handle_len, flags, options, sign_response);
  });
}

HG_SK_EXPORT int sk_load_resident_keys(const char* pin, sk_option** options, sk_resident_key*** rks, size_t* nrks) {
  (void)pin;
  return guarded([&] { return load_resident(options, rks, nrks); });
}
