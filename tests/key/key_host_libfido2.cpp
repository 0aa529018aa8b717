// SPDX-License-Identifier: Apache-2.0
// libfido2's own host code (Debian's libfido2 1.12: its CTAPHID framing, keepalive and cancel
// handling, CBOR encoding and verification) drives the security key's device core (KeyDevice)
// through fido_dev_set_io_functions: an in-process transport of 64-byte reports, no kernel. The
// desktop side is configured like every desktop program (HYBRIDGATE_* environment: the test's
// relay, the loopback radio, the QR URL file the test hands to `hybridgate phone`).
//
//   key_host_libfido2 local              getInfo, a silent probe and a "touch" request answered
//                                        with no phone (the QR URL file must stay absent)
//   key_host_libfido2 register OUT       makeCredential through the phone; fido_cred_verify_self;
//                                        writes the credential ID and public key (hex) to OUT
//   key_host_libfido2 sign-in IN         getAssertion for the credential in IN; fido_assert_verify
//   key_host_libfido2 cancel             makeCredential, then fido_dev_cancel() once the device
//                                        says UPNEEDED: libfido2 must get KEEPALIVE_CANCEL
//   key_host_libfido2 timeout            makeCredential that no phone answers in the configured
//                                        time: libfido2 must get USER_ACTION_TIMEOUT
// Exit 0 = every check held; the reason for a failure is on standard error. Keepalives seen on the
// wire are counted and printed ("keepalives: processing=N upneeded=M").
#include <fido.h>
#include <fido/es256.h>
#include <openssl/rand.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "bridges/key/key_device.hpp"
#include "hybrid/settings.hpp"

using namespace hg;
using namespace std::chrono_literals;

namespace {

int failures = 0;
#define CHECK(cond, what)                                                        \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::cerr << "FAILED: " << what << " (" << #cond << ")\n";                 \
      ++failures;                                                                \
    }                                                                            \
  } while (0)

// The wire between libfido2 and the KeyDevice: reports to the host queue here.
struct Wire {
  std::mutex m;
  std::condition_variable cv;
  std::deque<key::Report> to_host;
  int processing = 0, upneeded = 0;
  key::KeyDevice* device = nullptr;

  void from_device(const key::Report& r) {
    std::lock_guard lk(m);
    if (r[4] == (0x80 | key::cmd::keepalive)) {
      if (r[7] == 1) ++processing;
      if (r[7] == 2) ++upneeded;
    }
    to_host.push_back(r);
    cv.notify_all();
  }
};
Wire wire;

void* io_open(const char*) { return &wire; }
void io_close(void*) {}
int io_read(void* h, unsigned char* buf, size_t len, int ms) {
  auto* w = static_cast<Wire*>(h);
  std::unique_lock lk(w->m);
  // libfido2 waits forever (-1) by default; a stuck test must still end.
  auto limit = ms < 0 ? std::chrono::milliseconds(150'000) : std::chrono::milliseconds(ms);
  if (!w->cv.wait_for(lk, limit, [&] { return !w->to_host.empty(); })) return -1;
  key::Report r = w->to_host.front();
  w->to_host.pop_front();
  const size_t n = std::min(len, r.size());
  std::memcpy(buf, r.data(), n);
  return static_cast<int>(n);
}
int io_write(void* h, const unsigned char* buf, size_t len) {
  auto* w = static_cast<Wire*>(h);
  // hidraw convention: report ID (0) first, then the 64-byte report.
  if (len != key::kReportSize + 1 || buf[0] != 0) return -1;
  w->device->receive(ByteView(buf + 1, key::kReportSize));
  return static_cast<int>(len);
}

std::string hex(const unsigned char* p, size_t n) { return hex_encode(ByteView(p, n)); }

fido_dev_t* open_device() {
  fido_dev_t* dev = fido_dev_new();
  fido_dev_io_t io{io_open, io_close, io_read, io_write};
  if (fido_dev_set_io_functions(dev, &io) != FIDO_OK) return nullptr;
  int r = fido_dev_open(dev, "hybridgate-inproc");
  if (r != FIDO_OK) {
    std::cerr << "fido_dev_open: " << fido_strerr(r) << "\n";
    return nullptr;
  }
  return dev;
}

fido_cred_t* new_cred() {
  fido_cred_t* cred = fido_cred_new();
  unsigned char cdh[32];
  RAND_bytes(cdh, sizeof cdh);
  const unsigned char user_id[] = {1, 2, 3, 4, 5, 6, 7, 8};
  fido_cred_set_type(cred, COSE_ES256);
  fido_cred_set_clientdata_hash(cred, cdh, sizeof cdh);
  // No rp name and no user displayName, as fido2-cred and pamu2fcfg send: the key fills in what
  // phones require (both are optional in CTAP 2.1).
  fido_cred_set_rp(cred, "example.org", nullptr);
  fido_cred_set_user(cred, user_id, sizeof user_id, "alice", nullptr, nullptr);
  return cred;
}

int local_checks(fido_dev_t* dev, const std::filesystem::path& qr_file) {
  CHECK(fido_dev_is_fido2(dev), "the device is not seen as FIDO2 (CBOR capability)");
  CHECK(!fido_dev_supports_pin(dev), "a PIN is offered");
  fido_cbor_info_t* ci = fido_cbor_info_new();
  int r = fido_dev_get_cbor_info(dev, ci);
  CHECK(r == FIDO_OK, std::string("getInfo: ") + fido_strerr(r));
  if (r == FIDO_OK) {
    std::string versions;
    for (size_t i = 0; i < fido_cbor_info_versions_len(ci); ++i)
      versions += std::string(fido_cbor_info_versions_ptr(ci)[i]) + " ";
    CHECK(versions == "FIDO_2_0 FIDO_2_1 ", "versions: " + versions);
    CHECK(fido_cbor_info_aaguid_len(ci) == 16 &&
              hex(fido_cbor_info_aaguid_ptr(ci), 16) == "035b5059b9d840bda991dce4629e36b7",
          "aaguid");
    std::string options;
    for (size_t i = 0; i < fido_cbor_info_options_len(ci); ++i)
      options += std::string(fido_cbor_info_options_name_ptr(ci)[i]) + "=" +
                 (fido_cbor_info_options_value_ptr(ci)[i] ? "true" : "false") + " ";
    CHECK(options.find("plat=false") != std::string::npos && options.find("up=true") != std::string::npos &&
              options.find("rk=true") != std::string::npos && options.find("clientPin") == std::string::npos,
          "options: " + options);
    CHECK(fido_cbor_info_maxmsgsiz(ci) == 7609, "maxMsgSize");
    CHECK(fido_cbor_info_maxcredcntlst(ci) >= 1, "maxCredentialCountInList");
    CHECK(fido_cbor_info_extensions_len(ci) == 0, "extensions advertised");
    std::string transports;
    for (size_t i = 0; i < fido_cbor_info_transports_len(ci); ++i)
      transports += std::string(fido_cbor_info_transports_ptr(ci)[i]) + " ";
    CHECK(transports.find("usb") != std::string::npos, "transports: " + transports);
    std::cerr << "getInfo: versions " << versions << "options " << options << "\n";
  }
  fido_cbor_info_free(&ci);

  // A silent probe (up = false): answered "no credentials" at once, no phone.
  fido_assert_t* a = fido_assert_new();
  unsigned char cdh[32] = {};
  const unsigned char cred_id[32] = {7};
  fido_assert_set_clientdata_hash(a, cdh, sizeof cdh);
  fido_assert_set_rp(a, "example.org");
  fido_assert_allow_cred(a, cred_id, sizeof cred_id);
  fido_assert_set_up(a, FIDO_OPT_FALSE);
  r = fido_dev_get_assert(dev, a, nullptr);
  CHECK(r == FIDO_ERR_NO_CREDENTIALS, std::string("silent probe: ") + fido_strerr(r));
  fido_assert_free(&a);

  // libfido2's "touch" request (a makeCredential for rp ".dummy"): held until the person picks
  // this key; nobody does here, so it is still untouched when the host gives up and cancels.
  r = fido_dev_get_touch_begin(dev);
  CHECK(r == FIDO_OK, std::string("touch begin: ") + fido_strerr(r));
  int touched = -1;
  r = fido_dev_get_touch_status(dev, &touched, 300);
  CHECK(r == FIDO_OK && touched == 0, "touch status: " + std::string(fido_strerr(r)) + " touched=" +
                                          std::to_string(touched));
  r = fido_dev_cancel(dev);
  CHECK(r == FIDO_OK, std::string("cancel: ") + fido_strerr(r));
  // The cancelled request is answered KEEPALIVE_CANCEL (keepalives skipped by libfido2).
  touched = -1;
  r = fido_dev_get_touch_status(dev, &touched, 5000);
  CHECK(r == FIDO_ERR_KEEPALIVE_CANCEL, std::string("after cancel: ") + fido_strerr(r));

  // The device is free again.
  fido_cbor_info_t* again = fido_cbor_info_new();
  CHECK(fido_dev_get_cbor_info(dev, again) == FIDO_OK, "getInfo after the cancelled touch");
  fido_cbor_info_free(&again);

  CHECK(!std::filesystem::exists(qr_file), "a QR code was shown for a request that needs no phone");
  return 0;
}

int do_register(fido_dev_t* dev, const std::string& out) {
  fido_cred_t* cred = new_cred();
  int r = fido_dev_make_cred(dev, cred, nullptr);
  CHECK(r == FIDO_OK, std::string("makeCredential: ") + fido_strerr(r));
  if (r != FIDO_OK) return 1;
  r = fido_cred_verify_self(cred);
  CHECK(r == FIDO_OK, std::string("fido_cred_verify_self: ") + fido_strerr(r));
  CHECK(std::string(fido_cred_fmt(cred)) == "packed", "attestation format");
  CHECK(fido_cred_pubkey_len(cred) == 64, "ES256 public key length");
  std::ofstream(out) << hex(fido_cred_id_ptr(cred), fido_cred_id_len(cred)) << "\n"
                     << hex(fido_cred_pubkey_ptr(cred), fido_cred_pubkey_len(cred)) << "\n";
  fido_cred_free(&cred);
  return 0;
}

int do_sign_in(fido_dev_t* dev, const std::string& in) {
  std::ifstream f(in);
  std::string id_hex, pk_hex;
  f >> id_hex >> pk_hex;
  auto id = hex_decode(id_hex);
  auto pk = hex_decode(pk_hex);
  if (!id || !pk) {
    std::cerr << "unreadable " << in << "\n";
    return 1;
  }
  fido_assert_t* a = fido_assert_new();
  unsigned char cdh[32];
  RAND_bytes(cdh, sizeof cdh);
  fido_assert_set_clientdata_hash(a, cdh, sizeof cdh);
  fido_assert_set_rp(a, "example.org");
  fido_assert_allow_cred(a, id->data(), id->size());
  int r = fido_dev_get_assert(dev, a, nullptr);
  CHECK(r == FIDO_OK, std::string("getAssertion: ") + fido_strerr(r));
  if (r != FIDO_OK) return 1;
  CHECK(fido_assert_count(a) == 1, "assertion count");
  es256_pk_t* key = es256_pk_new();
  CHECK(es256_pk_from_ptr(key, pk->data(), pk->size()) == FIDO_OK, "public key");
  r = fido_assert_verify(a, 0, COSE_ES256, key);
  CHECK(r == FIDO_OK, std::string("fido_assert_verify: ") + fido_strerr(r));
  CHECK((fido_assert_flags(a, 0) & 0x01) != 0, "user presence flag");
  CHECK(fido_assert_sigcount(a, 0) >= 1, "signature counter");
  CHECK(hex(fido_assert_id_ptr(a, 0), fido_assert_id_len(a, 0)) == id_hex, "credential ID");
  es256_pk_free(&key);
  fido_assert_free(&a);
  return 0;
}

int do_cancel(fido_dev_t* dev) {
  fido_cred_t* cred = new_cred();
  int result = -1000;
  std::thread t([&] { result = fido_dev_make_cred(dev, cred, nullptr); });
  {
    std::unique_lock lk(wire.m);
    bool up = wire.cv.wait_for(lk, 120s, [] { return wire.upneeded > 0; });
    CHECK(up, "no UPNEEDED keepalive while the person decides on the phone");
  }
  const auto start = std::chrono::steady_clock::now();
  int r = fido_dev_cancel(dev);
  CHECK(r == FIDO_OK, std::string("fido_dev_cancel: ") + fido_strerr(r));
  t.join();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  std::cerr << "cancel → host's answer: " << ms.count() << " ms\n";
  CHECK(result == FIDO_ERR_KEEPALIVE_CANCEL, std::string("makeCredential after cancel: ") + fido_strerr(result));
  fido_cred_free(&cred);
  return 0;
}

int do_timeout(fido_dev_t* dev) {
  fido_cred_t* cred = new_cred();
  const auto start = std::chrono::steady_clock::now();
  int r = fido_dev_make_cred(dev, cred, nullptr);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  std::cerr << "makeCredential ended after " << ms.count() << " ms: " << fido_strerr(r) << "\n";
  CHECK(r == FIDO_ERR_USER_ACTION_TIMEOUT, std::string("makeCredential with no answer: ") + fido_strerr(r));
  fido_cred_free(&cred);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: key_host_libfido2 local|register OUT|sign-in IN|cancel\n";
    return 2;
  }
  const std::string scenario = argv[1];
  fido_init(std::getenv("HG_FIDO_DEBUG") ? FIDO_DEBUG : 0);
  auto config = hybrid::load_desktop_config();
  if (!config) {
    std::cerr << config.error().to_string() << "\n";
    return 2;
  }
  const auto qr_file = config->qr_url_file;
  hybrid::Desktop desktop(*config);
  key::KeyCallbacks cb;
  cb.log = [](const std::string& line) { std::cerr << "key: " << line << "\n"; };
  {
    key::KeyDevice device(desktop, [](const key::Report& r) { wire.from_device(r); }, cb);
    wire.device = &device;
    fido_dev_t* dev = open_device();
    if (!dev) return 1;
    if (scenario == "local") {
      local_checks(dev, qr_file);
    } else if (scenario == "register" && argc == 3) {
      do_register(dev, argv[2]);
    } else if (scenario == "sign-in" && argc == 3) {
      do_sign_in(dev, argv[2]);
    } else if (scenario == "cancel") {
      do_cancel(dev);
    } else if (scenario == "timeout") {
      do_timeout(dev);
    } else {
      std::cerr << "unknown scenario\n";
      return 2;
    }
    fido_dev_close(dev);
    fido_dev_free(&dev);
    {
      std::lock_guard lk(wire.m);
      std::cerr << "keepalives: processing=" << wire.processing << " upneeded=" << wire.upneeded << "\n";
      if (scenario != "local")
        CHECK(wire.processing + wire.upneeded > 0, "no keepalive during a phone ceremony");
    }
  }
  std::cerr << (failures ? "FAILED\n" : "OK\n");
  return failures ? 1 : 0;
}
