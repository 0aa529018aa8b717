// SPDX-License-Identifier: Apache-2.0
// libhybridgate-sk.so: OpenSSH's security-key middleware (sk_api.h, version 10) over the C ABI
// of libhybridgate. ssh-keygen -w / ssh -o SecurityKeyProvider / ssh-add -S load it into
// ssh-sk-helper; each call connects to a phone (a QR code on the controlling terminal, or a
// remembered phone woken through the relay), sends one raw CTAP2 request built here with libcbor,
// and turns the answer into OpenSSH's structures. docs/ssh.md says what the person sees.
//
// Resident keys: a phone offers no credential management over hybrid, and a getAssertion answer
// carries no public key (the user ID cannot carry it either: it is fixed before the phone makes
// the key). sk_load_resident_keys therefore asks for an assertion over "ssh:" without an allow
// list (the person approves and picks the account), then a second, silent one (up=false) for the
// same credential, and recovers the ECDSA P-256 public key from the two signatures: each yields
// at most a few candidate points (OpenSSL's EC arithmetic: Q = r^-1 (sR - eG)), and only the
// credential's key verifies both. Ed25519 keys cannot be recovered from signatures, so
// ed25519-sk resident keys are enrolled but cannot be loaded back from a phone (docs/ssh.md).
#include "sk_api.h"

#include <cbor.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hybridgate/hybridgate.h"

#define HG_SK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using Bytes = std::vector<uint8_t>;

constexpr std::string_view kResidentApplication = "ssh:";
constexpr size_t kOpenSshUserIdLen = 32;

// CTAP2 commands and status bytes (CTAP 2.1 §6, §8.2).
constexpr uint8_t kMakeCredential = 0x01;
constexpr uint8_t kGetAssertion = 0x02;
constexpr uint8_t kGetNextAssertion = 0x08;
constexpr int64_t kCoseEs256 = -7;
constexpr int64_t kCoseEdDsa = -8;

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

// The stable error code of a CTAP status byte (the names libhybridgate uses).
const char* status_code(uint8_t s) {
  switch (s) {
    case 0x19: return "ctap.credential_excluded";
    case 0x26: return "ctap.unsupported_algorithm";
    case 0x27: return "ctap.operation_denied";
    case 0x2B: return "ctap.unsupported_option";
    case 0x2C: return "ctap.invalid_option";
    case 0x2D: return "ctap.cancelled";
    case 0x2E: return "ctap.no_credentials";
    case 0x2F: return "ctap.user_action_timeout";
    case 0x30: return "ctap.not_allowed";
    default: return "ctap.status";
  }
}

[[noreturn]] void fail_status(uint8_t s, const char* context) {
  const char* code = status_code(s);
  const char* sentence = hg_error_sentence(code);
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", s);
  const std::string line = std::string(sentence ? sentence : "The phone reported an error.") + " (" + code + ", " +
                           byte + ", " + context + ")";
  switch (s) {
    case 0x19: fail(SSH_SK_ERR_CREDENTIAL_EXISTS, line);
    case 0x26: fail(SSH_SK_ERR_UNSUPPORTED, line);
    // The phone does not hold this key: OpenSSH's word for it is "device not found", which lets
    // ssh go on with its next key as it does for a USB key that is not plugged in.
    case 0x2E: fail(SSH_SK_ERR_DEVICE_NOT_FOUND, line);
    default: fail(SSH_SK_ERR_GENERAL, line);
  }
}

// A library error: the phone never came (no advert, relay unreachable, radio) is "device not
// found" to OpenSSH; everything else a general failure.
[[noreturn]] void fail_hg(const hg_error& e) {
  const std::string_view code(e.code);
  const bool not_found = code == "session.no_advert" || code.starts_with("tunnel.") || code.starts_with("ble.");
  fail(not_found ? SSH_SK_ERR_DEVICE_NOT_FOUND : SSH_SK_ERR_GENERAL, std::string(e.message) + " [" + e.code + "]");
}

// ------------------------------------------------------------------ small owners

struct CborFree {
  void operator()(cbor_item_t* p) const {
    if (p) cbor_decref(&p);
  }
};
using Cbor = std::unique_ptr<cbor_item_t, CborFree>;

Cbor must(cbor_item_t* p) {
  if (!p) fail(SSH_SK_ERR_GENERAL, "out of memory");
  return Cbor(p);
}

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

Bytes sha256(const uint8_t* data, size_t len) {
  Bytes out(32);
  unsigned int n = 0;
  if (EVP_Digest(data, len, out.data(), &n, EVP_sha256(), nullptr) != 1 || n != 32)
    fail(SSH_SK_ERR_GENERAL, "SHA-256 failed");
  return out;
}

// ------------------------------------------------------------------ CBOR building (canonical order)

void map_add(cbor_item_t* map, Cbor key, Cbor value) {
  if (!cbor_map_add(map, cbor_pair{key.get(), value.get()})) fail(SSH_SK_ERR_GENERAL, "out of memory");
}
Cbor uint_item(uint8_t v) { return must(cbor_build_uint8(v)); }
Cbor int_item(int64_t v) {
  return v >= 0 ? must(cbor_build_uint64(static_cast<uint64_t>(v))) : must(cbor_build_negint64(static_cast<uint64_t>(-1 - v)));
}
Cbor text_item(std::string_view s) { return must(cbor_build_stringn(s.data(), s.size())); }
Cbor bytes_item(const uint8_t* p, size_t n) { return must(cbor_build_bytestring(p, n)); }
Cbor bool_item(bool b) { return must(cbor_build_bool(b)); }

Bytes frame(uint8_t command, cbor_item_t* params) {
  unsigned char* buf = nullptr;
  size_t cap = 0;
  const size_t n = cbor_serialize_alloc(params, &buf, &cap);
  if (n == 0 || buf == nullptr) fail(SSH_SK_ERR_GENERAL, "cannot encode the CTAP request");
  Bytes out;
  out.reserve(n + 1);
  out.push_back(command);
  out.insert(out.end(), buf, buf + n);
  std::free(buf);
  return out;
}

// ------------------------------------------------------------------ CBOR reading (bounded, typed)

const cbor_item_t* map_get(const cbor_item_t* map, int64_t key) {
  if (!map || !cbor_isa_map(map) || !cbor_map_is_definite(map)) return nullptr;
  const size_t n = cbor_map_size(map);
  const cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < n; ++i) {
    const cbor_item_t* k = pairs[i].key;
    if (key >= 0 && cbor_isa_uint(k) && cbor_get_int(k) == static_cast<uint64_t>(key)) return pairs[i].value;
    if (key < 0 && cbor_isa_negint(k) && cbor_get_int(k) == static_cast<uint64_t>(-1 - key)) return pairs[i].value;
  }
  return nullptr;
}

const cbor_item_t* map_get(const cbor_item_t* map, std::string_view key) {
  if (!map || !cbor_isa_map(map) || !cbor_map_is_definite(map)) return nullptr;
  const size_t n = cbor_map_size(map);
  const cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < n; ++i) {
    const cbor_item_t* k = pairs[i].key;
    if (cbor_isa_string(k) && cbor_string_is_definite(k) && cbor_string_length(k) == key.size() &&
        std::memcmp(cbor_string_handle(k), key.data(), key.size()) == 0)
      return pairs[i].value;
  }
  return nullptr;
}

std::optional<Bytes> bytes_of(const cbor_item_t* item) {
  if (!item || !cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) return std::nullopt;
  const uint8_t* p = cbor_bytestring_handle(item);
  return Bytes(p, p + cbor_bytestring_length(item));
}

std::optional<int64_t> int_of(const cbor_item_t* item) {
  if (!item) return std::nullopt;
  if (cbor_isa_uint(item) && cbor_get_int(item) <= INT64_MAX) return static_cast<int64_t>(cbor_get_int(item));
  if (cbor_isa_negint(item) && cbor_get_int(item) < INT64_MAX) return -1 - static_cast<int64_t>(cbor_get_int(item));
  return std::nullopt;
}

// Parses exactly one CBOR item from [p, p+n); *used = the bytes it took.
Cbor parse_cbor(const uint8_t* p, size_t n, size_t* used) {
  cbor_load_result r{};
  Cbor item(cbor_load(p, n, &r));
  if (!item || r.error.code != CBOR_ERR_NONE) return nullptr;
  *used = r.read;
  return item;
}

[[noreturn]] void bad_answer(const std::string& what) {
  fail(SSH_SK_ERR_GENERAL, "The phone's answer is malformed (" + what + ").");
}

// ------------------------------------------------------------------ authenticator data

struct AuthData {
  Bytes raw;
  uint8_t flags = 0;
  uint32_t counter = 0;
  Bytes credential_id;  // attested credential data, when present
  int64_t alg = 0;
  Bytes public_key;     // OpenSSH form: 65-byte uncompressed point or 32-byte Ed25519 key
};

Bytes ec_uncompressed(const Bytes& x, const Bytes& y) {
  Bytes out{0x04};
  out.insert(out.end(), x.begin(), x.end());
  out.insert(out.end(), y.begin(), y.end());
  return out;
}

AuthData parse_auth_data(const Bytes& raw, const Bytes& rp_id_hash, bool attested) {
  AuthData ad;
  ad.raw = raw;
  if (raw.size() < 37) bad_answer("authenticator data shorter than 37 bytes");
  if (!std::equal(rp_id_hash.begin(), rp_id_hash.end(), raw.begin())) bad_answer("the RP ID hash is not the application's");
  ad.flags = raw[32];
  ad.counter = (uint32_t(raw[33]) << 24) | (uint32_t(raw[34]) << 16) | (uint32_t(raw[35]) << 8) | uint32_t(raw[36]);
  if (!attested) return ad;
  if (!(ad.flags & 0x40) || raw.size() < 37 + 18) bad_answer("no attested credential data");
  const size_t id_len = (size_t(raw[53]) << 8) | raw[54];
  if (id_len == 0 || raw.size() < 55 + id_len) bad_answer("credential ID length");
  ad.credential_id.assign(raw.begin() + 55, raw.begin() + 55 + long(id_len));
  size_t used = 0;
  Cbor key = parse_cbor(raw.data() + 55 + id_len, raw.size() - 55 - id_len, &used);
  if (!key || !cbor_isa_map(key.get())) bad_answer("the credential public key is not a COSE key");
  const auto kty = int_of(map_get(key.get(), 1));
  const auto alg = int_of(map_get(key.get(), 3));
  const auto crv = int_of(map_get(key.get(), -1));
  const auto x = bytes_of(map_get(key.get(), -2));
  if (!alg || !kty || !crv || !x) bad_answer("COSE key fields");
  ad.alg = *alg;
  if (*alg == kCoseEs256 && *kty == 2 && *crv == 1) {
    const auto y = bytes_of(map_get(key.get(), -3));
    if (x->size() != 32 || !y || y->size() != 32) bad_answer("P-256 coordinates");
    ad.public_key = ec_uncompressed(*x, *y);
  } else if (*alg == kCoseEdDsa && *kty == 1 && *crv == 6) {
    if (x->size() != 32) bad_answer("Ed25519 key length");
    ad.public_key = *x;
  } else {
    bad_answer("a key of another algorithm than asked for");
  }
  return ad;
}

// ------------------------------------------------------------------ public keys: compress, verify

struct EcPointOps {
  std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1),
                                                            EC_GROUP_free};
  std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> bn{BN_CTX_new(), BN_CTX_free};
  std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> point{group ? EC_POINT_new(group.get()) : nullptr,
                                                            EC_POINT_free};
  // Converts a SEC1 point between forms; nullopt when it is not on the curve.
  std::optional<Bytes> convert(const Bytes& in, point_conversion_form_t form) {
    if (!group || !bn || !point) return std::nullopt;
    if (EC_POINT_oct2point(group.get(), point.get(), in.data(), in.size(), bn.get()) != 1) return std::nullopt;
    Bytes out(form == POINT_CONVERSION_COMPRESSED ? 33 : 65);
    if (EC_POINT_point2oct(group.get(), point.get(), form, out.data(), out.size(), bn.get()) != out.size())
      return std::nullopt;
    return out;
  }
};

// An EVP_PKEY for an OpenSSH-form public key of `alg` (SSH_SK_*), or null.
std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> public_pkey(uint32_t alg, const Bytes& pub) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> none(nullptr, EVP_PKEY_free);
  if (alg == SSH_SK_ED25519) {
    return {EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()), EVP_PKEY_free};
  }
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr),
                                                                   EVP_PKEY_CTX_free);
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return none;
  char group[] = "P-256";
  Bytes copy = pub;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("group", group, 0),
                         OSSL_PARAM_construct_octet_string("pub", copy.data(), copy.size()), OSSL_PARAM_construct_end()};
  EVP_PKEY* pk = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &pk, EVP_PKEY_PUBLIC_KEY, params) != 1) return none;
  return {pk, EVP_PKEY_free};
}

// The WebAuthn assertion signature over authData || clientDataHash: ECDSA-SHA256 (DER) or Ed25519.
bool verify_assertion(uint32_t alg, const Bytes& pub, const Bytes& auth_data, const Bytes& cdh, const Bytes& sig) {
  auto pk = public_pkey(alg, pub);
  if (!pk) return false;
  Bytes msg = auth_data;
  msg.insert(msg.end(), cdh.begin(), cdh.end());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx) return false;
  const EVP_MD* md = alg == SSH_SK_ED25519 ? nullptr : EVP_sha256();
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pk.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), msg.data(), msg.size()) == 1;
}

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
  Phone(hg_request_hint hint, const std::string& device, std::string purpose) : purpose_(std::move(purpose)) {
    hg_error err{};
    cfg_.reset(hg_config_new());
    if (!cfg_) fail(SSH_SK_ERR_GENERAL, "out of memory");
    if (hg_config_load(cfg_.get(), &err) != HG_OK) fail_hg(err);
    std::string phone = device;
    if (phone.empty()) phone = setting("phone");
    qr_url_file_ = setting("qr_url_file");
    if (phone.empty() && !screen_.has_tty() && qr_url_file_.empty())
      fail(SSH_SK_ERR_DEVICE_NOT_FOUND,
           "There is no terminal to show the QR code on: run this from a terminal, set HYBRIDGATE_QR_URL_FILE "
           "(or qr_url_file in the configuration) for a program that shows it, or use a remembered phone "
           "(HYBRIDGATE_PHONE).");
    desktop_.reset(hg_desktop_new(cfg_.get(), &err));
    if (!desktop_) fail_hg(err);
    hg_desktop_set_callbacks(desktop_.get(), &Phone::on_qr, &Phone::on_stage, &Phone::on_notice, this);
    if (!phone.empty()) screen_.line("asking the phone '" + phone + "' (no QR code): " + purpose_);
    conn_.reset(hg_desktop_connect(desktop_.get(), hint, phone.empty() ? nullptr : phone.c_str(), &err));
    if (!conn_) fail_hg(err);
    const uint8_t* info = nullptr;
    size_t info_len = 0;
    if (hg_connection_get_info(conn_.get(), &info, &info_len, &err) != HG_OK) fail_hg(err);
    size_t used = 0;
    info_ = parse_cbor(info, info_len, &used);
  }
  ~Phone() = default;
  Phone(const Phone&) = delete;
  Phone& operator=(const Phone&) = delete;

  // getInfo key 10 (algorithms) lists this COSE algorithm. A phone without the list offers ES256.
  bool offers(int64_t alg) const {
    const cbor_item_t* algs = map_get(info_.get(), 10);
    if (!algs || !cbor_isa_array(algs)) return alg == kCoseEs256;
    for (size_t i = 0; i < cbor_array_size(algs); ++i) {
      if (int_of(map_get(cbor_array_handle(algs)[i], "alg")) == alg) return true;
    }
    return false;
  }

  // status byte || CBOR map. Fails on a CTAP error status (context names the request), except
  // that `quiet_status` (when not 0) is returned as a null item.
  Cbor transact(const Bytes& request, const char* context, uint8_t quiet_status = 0) {
    hg_error err{};
    uint8_t* resp = nullptr;
    size_t resp_len = 0;
    if (hg_connection_transact(conn_.get(), request.data(), request.size(), &resp, &resp_len, &err) != HG_OK) fail_hg(err);
    std::unique_ptr<uint8_t, HgFree> own(resp);
    if (resp_len == 0) bad_answer("empty response");
    if (resp[0] != 0 && resp[0] == quiet_status) return nullptr;
    if (resp[0] != 0) fail_status(resp[0], context);
    size_t used = 0;
    Cbor body = parse_cbor(resp + 1, resp_len - 1, &used);
    if (!body || !cbor_isa_map(body.get()) || used != resp_len - 1) bad_answer("the response is not one CBOR map");
    return body;
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
      // The library wrote the URL to the configured file before this call.
      say("the QR code to scan is in the QR URL file (" + self->qr_url_file_ + ")");
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
    if (const char* l = stage_line(stage)) self->screen_.line(l);
  }
  static void on_notice(void* user, const char* sentence) { static_cast<Phone*>(user)->screen_.line(sentence); }

  Screen screen_;
  std::string purpose_;
  std::string qr_url_file_;
  // Destroyed in reverse: the connection (tunnel closed), then its desktop, then the config.
  std::unique_ptr<hg_config, ConfigFree> cfg_;
  std::unique_ptr<hg_desktop, DesktopFree> desktop_;
  std::unique_ptr<hg_connection, ConnectionFree> conn_;
  Cbor info_;
};

// ------------------------------------------------------------------ ECDSA public key recovery

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

// The P-256 points whose ECDSA-SHA256 signature `der` over `msg` would verify (SEC 1 §4.1.6, the
// x = r candidates; x = r + n has probability ~2^-128 and is not tried), uncompressed.
std::vector<Bytes> recover_p256(const Bytes& msg, const Bytes& der) {
  std::vector<Bytes> out;
  const unsigned char* p = der.data();
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(d2i_ECDSA_SIG(nullptr, &p, long(der.size())),
                                                            ECDSA_SIG_free);
  if (!sig || p != der.data() + der.size()) return out;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  EcPointOps ops;
  if (!ops.group || !ops.bn) return out;
  const BIGNUM* n = EC_GROUP_get0_order(ops.group.get());
  const Bytes digest = sha256(msg.data(), msg.size());
  Bn e(BN_bin2bn(digest.data(), int(digest.size()), nullptr));
  Bn r_inv(BN_mod_inverse(nullptr, r, n, ops.bn.get()));
  Bn u1(BN_new()), u2(BN_new());
  if (!e || !r_inv || !u1 || !u2) return out;
  // u1 = -e * r^-1 mod n, u2 = s * r^-1 mod n; Q = u1*G + u2*R.
  if (BN_mod_mul(u1.get(), e.get(), r_inv.get(), n, ops.bn.get()) != 1 ||
      BN_mod_sub(u1.get(), n, u1.get(), n, ops.bn.get()) != 1 ||
      BN_mod_mul(u2.get(), s, r_inv.get(), n, ops.bn.get()) != 1)
    return out;
  for (int parity = 0; parity < 2; ++parity) {
    std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> big_r(EC_POINT_new(ops.group.get()), EC_POINT_free);
    std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> q(EC_POINT_new(ops.group.get()), EC_POINT_free);
    if (!big_r || !q) return out;
    if (EC_POINT_set_compressed_coordinates(ops.group.get(), big_r.get(), r, parity, ops.bn.get()) != 1) continue;
    if (EC_POINT_mul(ops.group.get(), q.get(), u1.get(), big_r.get(), u2.get(), ops.bn.get()) != 1) continue;
    if (EC_POINT_is_at_infinity(ops.group.get(), q.get())) continue;
    Bytes pub(65);
    if (EC_POINT_point2oct(ops.group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, pub.data(), pub.size(),
                           ops.bn.get()) != pub.size())
      continue;
    out.push_back(std::move(pub));
  }
  return out;
}

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

// OpenSSH's user ID: the -O user= name, NUL-padded to 32 bytes (as its own libfido2 provider).
Bytes openssh_user_id(const std::string& user) {
  Bytes id(kOpenSshUserIdLen, 0);
  std::memcpy(id.data(), user.data(), std::min(user.size(), kOpenSshUserIdLen - 1));
  return id;
}

int64_t cose_alg(uint32_t alg) {
  if (alg == SSH_SK_ECDSA) return kCoseEs256;
  if (alg == SSH_SK_ED25519) return kCoseEdDsa;
  fail(SSH_SK_ERR_UNSUPPORTED, "unknown key algorithm " + std::to_string(alg));
}

Bytes random32() {
  Bytes b(32);
  if (RAND_bytes(b.data(), int(b.size())) != 1) fail(SSH_SK_ERR_GENERAL, "no random bytes");
  return b;
}

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

// ------------------------------------------------------------------ CTAP requests

// getAssertion {1: rpId, 2: clientDataHash, 3: allowList?, 5: {up, uv?}}.
Bytes get_assertion_request(const std::string& rp, const Bytes& cdh, const Bytes* credential_id, bool up, bool uv) {
  Cbor params = must(cbor_new_definite_map(credential_id ? 4 : 3));
  map_add(params.get(), uint_item(1), text_item(rp));
  map_add(params.get(), uint_item(2), bytes_item(cdh.data(), cdh.size()));
  if (credential_id) {
    Cbor list = must(cbor_new_definite_array(1));
    Cbor d = must(cbor_new_definite_map(2));
    map_add(d.get(), text_item("id"), bytes_item(credential_id->data(), credential_id->size()));
    map_add(d.get(), text_item("type"), text_item("public-key"));
    if (!cbor_array_push(list.get(), d.get())) fail(SSH_SK_ERR_GENERAL, "out of memory");
    map_add(params.get(), uint_item(3), std::move(list));
  }
  Cbor opts = must(cbor_new_definite_map(uv ? 2 : 1));
  map_add(opts.get(), text_item("up"), bool_item(up));
  if (uv) map_add(opts.get(), text_item("uv"), bool_item(true));
  map_add(params.get(), uint_item(5), std::move(opts));
  return frame(kGetAssertion, params.get());
}

struct Assertion {
  Bytes credential_id;
  AuthData auth;
  Bytes signature;
  Bytes user_id;
  size_t count = 1;  // numberOfCredentials (first answer only)
};

Assertion read_assertion(const cbor_item_t* body, const Bytes& rp_hash, const Bytes* expected_id) {
  Assertion a;
  const auto raw = bytes_of(map_get(body, 2));
  const auto sig = bytes_of(map_get(body, 3));
  if (!raw || !sig || sig->empty()) bad_answer("no authenticator data or signature");
  a.auth = parse_auth_data(*raw, rp_hash, false);
  a.signature = *sig;
  if (auto id = bytes_of(map_get(map_get(body, 1), "id"))) a.credential_id = *id;
  if (a.credential_id.empty()) {
    if (!expected_id) bad_answer("no credential ID");
    a.credential_id = *expected_id;
  }
  if (expected_id && a.credential_id != *expected_id) bad_answer("another credential answered");
  if (auto u = bytes_of(map_get(map_get(body, 4), "id"))) a.user_id = *u;
  if (auto n = int_of(map_get(body, 5)); n && *n > 1 && *n <= 64) a.count = size_t(*n);
  return a;
}

// ------------------------------------------------------------------ the three operations

int enroll(uint32_t alg, const uint8_t* challenge, size_t challenge_len, const char* application, uint8_t flags,
           sk_option** options, sk_enroll_response** out) {
  if (!out || !application || !*application || (!challenge && challenge_len))
    fail(SSH_SK_ERR_GENERAL, "sk_enroll: missing arguments");
  *out = nullptr;
  check_options(options);
  const int64_t want = cose_alg(alg);
  const std::string app(application);
  const std::string user = option(options, "user");
  const bool rk = flags & SSH_SK_RESIDENT_KEY;
  const bool uv = flags & SSH_SK_USER_VERIFICATION_REQD;

  Phone phone(HG_HINT_MAKE_CREDENTIAL, option(options, "device"), "create the SSH key for " + app);
  if (!phone.offers(want))
    fail(SSH_SK_ERR_UNSUPPORTED, std::string("The phone does not offer ") +
                                     (alg == SSH_SK_ED25519 ? "Ed25519 (EdDSA) keys; use -t ecdsa-sk."
                                                            : "ECDSA P-256 keys."));
  if (rk && alg == SSH_SK_ED25519)
    say("note: an ed25519-sk resident key cannot be loaded back from a phone with ssh-keygen -K (use ecdsa-sk "
        "for that); the key file works as usual");

  // makeCredential {1: clientDataHash, 2: rp, 3: user, 4: pubKeyCredParams, 7: options?}; the
  // clientDataHash is SHA-256 of OpenSSH's challenge, as OpenSSH's own provider sends it.
  const Bytes cdh = sha256(challenge, challenge_len);
  const Bytes rp_hash = sha256(reinterpret_cast<const uint8_t*>(app.data()), app.size());
  const Bytes user_id = openssh_user_id(user);
  Cbor params = must(cbor_new_definite_map(rk || uv ? 5 : 4));
  map_add(params.get(), uint_item(1), bytes_item(cdh.data(), cdh.size()));
  // rp.name: phones require it (Chrome on Android refuses a request without; docs/protocol.md).
  Cbor rp = must(cbor_new_definite_map(2));
  map_add(rp.get(), text_item("id"), text_item(app));
  map_add(rp.get(), text_item("name"), text_item("OpenSSH " + app));
  map_add(params.get(), uint_item(2), std::move(rp));
  Cbor u = must(cbor_new_definite_map(3));
  map_add(u.get(), text_item("id"), bytes_item(user_id.data(), user_id.size()));
  map_add(u.get(), text_item("name"), text_item(user.empty() ? "openssh" : user));
  map_add(u.get(), text_item("displayName"), text_item(user.empty() ? "openssh" : user));
  map_add(params.get(), uint_item(3), std::move(u));
  Cbor algs = must(cbor_new_definite_array(1));
  Cbor p = must(cbor_new_definite_map(2));
  map_add(p.get(), text_item("alg"), int_item(want));
  map_add(p.get(), text_item("type"), text_item("public-key"));
  if (!cbor_array_push(algs.get(), p.get())) fail(SSH_SK_ERR_GENERAL, "out of memory");
  map_add(params.get(), uint_item(4), std::move(algs));
  if (rk || uv) {
    Cbor opts = must(cbor_new_definite_map(size_t(rk) + size_t(uv)));
    if (rk) map_add(opts.get(), text_item("rk"), bool_item(true));
    if (uv) map_add(opts.get(), text_item("uv"), bool_item(true));
    map_add(params.get(), uint_item(7), std::move(opts));
  }
  Cbor body = phone.transact(frame(kMakeCredential, params.get()), "creating the key");
  const auto raw = bytes_of(map_get(body.get(), 2));
  if (!raw) bad_answer("no authenticator data");
  AuthData ad = parse_auth_data(*raw, rp_hash, true);
  if (ad.alg != want) bad_answer("a key of another algorithm than asked for");
  if (uv && !(ad.flags & 0x04)) fail(SSH_SK_ERR_GENERAL, "The phone did not verify the user (-O verify-required).");
  const cbor_item_t* att = map_get(body.get(), 3);
  Bytes sig, cert;
  if (auto s = bytes_of(map_get(att, "sig"))) sig = *s;
  if (const cbor_item_t* x5c = map_get(att, "x5c"); x5c && cbor_isa_array(x5c) && cbor_array_size(x5c) > 0) {
    if (auto c = bytes_of(cbor_array_handle(x5c)[0])) cert = *c;
  }

  auto* r = static_cast<sk_enroll_response*>(std::calloc(1, sizeof(sk_enroll_response)));
  if (!r) fail(SSH_SK_ERR_GENERAL, "out of memory");
  try {
    r->flags = flags;
    r->public_key = dup_bytes(ad.public_key, &r->public_key_len);
    r->key_handle = dup_bytes(ad.credential_id, &r->key_handle_len);
    r->signature = dup_bytes(sig, &r->signature_len);
    r->attestation_cert = dup_bytes(cert, &r->attestation_cert_len);
    r->authdata = dup_bytes(ad.raw, &r->authdata_len);
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
  (void)cose_alg(alg);
  const std::string app(application);
  const Bytes id(key_handle, key_handle + key_handle_len);
  const Bytes rp_hash = sha256(reinterpret_cast<const uint8_t*>(app.data()), app.size());
  // OpenSSH's message is hashed into the clientDataHash; the authenticator signs authData || it,
  // which is what sshd verifies.
  const Bytes cdh = sha256(data, data_len);
  const bool up = flags & SSH_SK_USER_PRESENCE_REQD;
  const bool uv = flags & SSH_SK_USER_VERIFICATION_REQD;

  Phone phone(HG_HINT_GET_ASSERTION, option(options, "device"), "sign in with the SSH key for " + app);
  Cbor body = phone.transact(get_assertion_request(app, cdh, &id, up, uv), "signing");
  Assertion a = read_assertion(body.get(), rp_hash, &id);

  auto* r = static_cast<sk_sign_response*>(std::calloc(1, sizeof(sk_sign_response)));
  if (!r) fail(SSH_SK_ERR_GENERAL, "out of memory");
  try {
    r->flags = a.auth.flags;
    r->counter = a.auth.counter;
    if (alg == SSH_SK_ED25519) {
      if (a.signature.size() != 64) bad_answer("an Ed25519 signature is not 64 bytes");
      r->sig_r = dup_bytes(a.signature, &r->sig_r_len);
    } else {
      const unsigned char* p = a.signature.data();
      std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
          d2i_ECDSA_SIG(nullptr, &p, long(a.signature.size())), ECDSA_SIG_free);
      if (!sig || p != a.signature.data() + a.signature.size()) bad_answer("the ECDSA signature is not DER");
      const BIGNUM* br = nullptr;
      const BIGNUM* bs = nullptr;
      ECDSA_SIG_get0(sig.get(), &br, &bs);
      Bytes rb(size_t(BN_num_bytes(br))), sb(size_t(BN_num_bytes(bs)));
      BN_bn2bin(br, rb.data());
      BN_bn2bin(bs, sb.data());
      if (rb.empty() || sb.empty() || rb.size() > 32 || sb.size() > 32) bad_answer("ECDSA signature values");
      r->sig_r = dup_bytes(rb, &r->sig_r_len);
      r->sig_s = dup_bytes(sb, &r->sig_s_len);
    }
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
  const std::string app(kResidentApplication);
  const Bytes rp_hash = sha256(reinterpret_cast<const uint8_t*>(app.data()), app.size());

  Phone phone(HG_HINT_GET_ASSERTION, option(options, "device"), "load your resident SSH keys");
  // 1. The person approves and picks (the phone shows the accounts of "ssh:").
  std::vector<Assertion> found;
  const Bytes cdh1 = random32();
  {
    constexpr uint8_t kNoCredentials = 0x2E;
    Cbor body = phone.transact(get_assertion_request(app, cdh1, nullptr, true, false), "finding resident keys",
                               kNoCredentials);
    if (!body) {
      say("the phone holds no resident SSH keys (of the application ssh:)");
      return 0;
    }
    found.push_back(read_assertion(body.get(), rp_hash, nullptr));
  }
  const size_t total = found[0].count;
  for (size_t i = 1; i < total; ++i) {
    Cbor body = phone.transact(Bytes{kGetNextAssertion}, "finding resident keys");
    found.push_back(read_assertion(body.get(), rp_hash, nullptr));
  }

  // 2. For each: a second, silent signature, and the one key that verifies both.
  std::vector<sk_resident_key*> keys;
  try {
    for (const Assertion& a : found) {
      Bytes msg1 = a.auth.raw;
      msg1.insert(msg1.end(), cdh1.begin(), cdh1.end());
      const auto candidates = recover_p256(msg1, a.signature);
      if (candidates.empty()) {
        say("skipping a resident key that is not ECDSA P-256 (an Ed25519 key cannot be loaded from a phone)");
        continue;
      }
      const Bytes cdh2 = random32();
      Cbor body = phone.transact(get_assertion_request(app, cdh2, &a.credential_id, false, false),
                                 "reading the resident key");
      Assertion b = read_assertion(body.get(), rp_hash, &a.credential_id);
      std::optional<Bytes> pub;
      for (const auto& c : candidates) {
        if (verify_assertion(SSH_SK_ECDSA, c, a.auth.raw, cdh1, a.signature) &&
            verify_assertion(SSH_SK_ECDSA, c, b.auth.raw, cdh2, b.signature)) {
          pub = c;
          break;
        }
      }
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
      rk->key.key_handle = dup_bytes(a.credential_id, &rk->key.key_handle_len);
      rk->flags = rk->key.flags;
      Bytes uid = a.user_id.empty() ? Bytes(kOpenSshUserIdLen, 0) : a.user_id;
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
