// SPDX-License-Identifier: Apache-2.0
// FileCredentialStore: permissions, persistence across reopen, atomic rewrite, damaged files.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "proto/authenticator.hpp"
#include "proto/ctap.hpp"
#include "store/credential_store.hpp"

using namespace hg;
namespace fs = std::filesystem;

namespace {

// A fresh private directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hg_file_store_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << text;
  }
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

authenticator::CredentialRecord sample_record(uint8_t id_byte) {
  authenticator::CredentialRecord r;
  r.credential_id = Bytes(16, id_byte);
  r.rp_id = "example.com";
  r.rp_name = "Example \"Inc\" ü";
  r.user_id = Bytes{0x00, 0xff, id_byte};
  r.user_name = "alice@example.com";
  r.display_name = "Alice";
  Bytes key(32, 0x01);
  key[0] = id_byte;
  r.private_key = SecretBytes(std::move(key));
  r.sign_count = 7;
  r.created = 1'700'000'000'000ULL + id_byte;
  r.discoverable = (id_byte % 2) == 1;
  return r;
}

void check_same(const authenticator::CredentialRecord& a, const authenticator::CredentialRecord& b) {
  CHECK(a.credential_id == b.credential_id);
  CHECK(a.rp_id == b.rp_id);
  CHECK(a.rp_name == b.rp_name);
  CHECK(a.user_id == b.user_id);
  CHECK(a.user_name == b.user_name);
  CHECK(a.display_name == b.display_name);
  CHECK(a.private_key.bytes() == b.private_key.bytes());
  CHECK(a.sign_count == b.sign_count);
  CHECK(a.created == b.created);
  CHECK(a.discoverable == b.discoverable);
  CHECK(a.alg == b.alg);
}

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("file store is created with mode 0600 and starts empty", "[file_store]") {
  TempDir dir;
  const fs::path p = dir.path() / "credentials.json";
  auto store = store::FileCredentialStore::open(p);
  REQUIRE(store.ok());
  CHECK((*store)->size() == 0);
  CHECK(fs::exists(p));
  CHECK(mode_of(p) == 0600);
  auto again = store::FileCredentialStore::open(p);
  REQUIRE(again.ok());
  CHECK((*again)->size() == 0);
}

TEST_CASE("file store keeps every field across reopen", "[file_store]") {
  TempDir dir;
  const fs::path p = dir.path() / "credentials.json";
  {
    auto store = store::FileCredentialStore::open(p);
    REQUIRE(store.ok());
    REQUIRE((*store)->add(sample_record(1)).ok());
    REQUIRE((*store)->add(sample_record(2)).ok());
    CHECK_FALSE((*store)->add(sample_record(2)).ok());  // duplicate ID
  }
  CHECK(mode_of(p) == 0600);
  CHECK(files_in(dir.path()) == 2);  // the store and its lock file: no temporary files left behind

  auto store = store::FileCredentialStore::open(p);
  REQUIRE(store.ok());
  REQUIRE((*store)->size() == 2);
  auto found = (*store)->find_by_id(Bytes(16, 2));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  check_same(**found, sample_record(2));
  auto by_rp = (*store)->find_by_rp("example.com");
  REQUIRE(by_rp.ok());
  CHECK(by_rp->size() == 2);
  CHECK((*store)->find_by_rp("other.example")->empty());

  REQUIRE((*store)->update_sign_count(Bytes(16, 1), 99).ok());
  CHECK_FALSE((*store)->update_sign_count(Bytes(16, 9), 1).ok());
  REQUIRE((*store)->remove(Bytes(16, 2)).ok());
  REQUIRE((*store)->remove(Bytes(16, 9)).ok());

  auto reopened = store::FileCredentialStore::open(p);
  REQUIRE(reopened.ok());
  REQUIRE((*reopened)->size() == 1);
  auto one = (*reopened)->find_by_id(Bytes(16, 1));
  REQUIRE(one.ok());
  REQUIRE(one->has_value());
  CHECK((*one)->sign_count == 99);
  CHECK_FALSE((*reopened)->find_by_id(Bytes(16, 2))->has_value());
}

TEST_CASE("file store keeps EdDSA credentials and reads files from before EdDSA as ES256", "[file_store]") {
  TempDir dir;
  const fs::path p = dir.path() / "credentials.json";
  auto ed = sample_record(3);
  ed.alg = ctap::cose::alg_edDSA;
  {
    auto store = store::FileCredentialStore::open(p);
    REQUIRE(store.ok());
    REQUIRE((*store)->add(sample_record(1)).ok());
    REQUIRE((*store)->add(ed).ok());
  }
  {
    auto store = store::FileCredentialStore::open(p);
    REQUIRE(store.ok());
    auto found = (*store)->find_by_id(Bytes(16, 3));
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    check_same(**found, ed);
    CHECK((*(*store)->find_by_id(Bytes(16, 1)))->alg == ctap::cose::alg_es256);
  }
  // A credential file written before EdDSA existed (no "alg" member), as the previous version
  // wrote it: it loads, and its credential is ES256.
  const std::string old_file = R"({"version": 1, "credentials": [{"id": "AQEBAQEBAQEBAQEBAQEBAQ",
    "rp_id": "example.com", "rp_name": "Example", "user_id": "AP8B", "user_name": "alice",
    "display_name": "Alice", "private_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",
    "sign_count": 7, "created": 1700000000001, "discoverable": true}]})";
  write_file(p, old_file);
  {
    auto store = store::FileCredentialStore::open(p);
    REQUIRE(store.ok());
    auto found = (*store)->find_by_id(Bytes(16, 1));
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    CHECK((*found)->alg == ctap::cose::alg_es256);
    CHECK((*found)->sign_count == 7);
  }
  // An algorithm this authenticator does not know is a damaged file, not a guess.
  for (const char* bad_alg : {"-257", "\"EdDSA\"", "1.5"}) {
    std::string text = old_file;
    text.replace(text.find("\"discoverable\""), 0, std::string("\"alg\": ") + bad_alg + ", ");
    INFO(text);
    write_file(p, text);
    auto r = store::FileCredentialStore::open(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::store_corrupt);
  }
}

TEST_CASE("file store refuses a file other users can read", "[file_store]") {
  TempDir dir;
  const fs::path p = dir.path() / "credentials.json";
  REQUIRE(store::FileCredentialStore::open(p).ok());
  for (mode_t mode : {0640, 0604, 0660, 0602}) {
    INFO("mode " << std::oct << mode);
    REQUIRE(::chmod(p.c_str(), mode) == 0);
    auto r = store::FileCredentialStore::open(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::store_permissions);
    CHECK(r.error().detail.find("chmod 600") != std::string::npos);
  }
  REQUIRE(::chmod(p.c_str(), 0600) == 0);
  CHECK(store::FileCredentialStore::open(p).ok());
}

TEST_CASE("file store reports damaged files as store corrupt", "[file_store]") {
  TempDir dir;
  const fs::path p = dir.path() / "credentials.json";
  REQUIRE(store::FileCredentialStore::open(p).ok());
  std::string good;
  {
    auto store = store::FileCredentialStore::open(p);
    REQUIRE(store.ok());
    REQUIRE((*store)->add(sample_record(1)).ok());
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    good = ss.str();
  }
  REQUIRE(good.size() > 40);
  const std::string key_b64 = base64url_encode(sample_record(1).private_key.view());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    auto pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    s.replace(pos, from.size(), to);
    return s;
  };
  const std::vector<std::string> bad = {
      "",
      "not json",
      "[]",
      "{}",
      "{\"version\": 2, \"credentials\": []}",
      "{\"version\": 1, \"credentials\": {}}",
      "{\"version\": 1, \"credentials\": [1]}",
      good.substr(0, good.size() / 2),
      replace(key_b64, "!!!"),
      replace(key_b64, key_b64.substr(0, 20)),
      replace("\"sign_count\": 7", "\"sign_count\": -1"),
      replace("\"sign_count\": 7", "\"sign_count\": 4294967296"),
      replace("\"discoverable\": true", "\"discoverable\": 1"),
      replace("\"rp_id\": \"example.com\"", "\"rp_id\": 5"),
  };
  for (const auto& text : bad) {
    INFO("file: " << text.substr(0, 80));
    write_file(p, text);
    auto r = store::FileCredentialStore::open(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::store_corrupt);
  }
  write_file(p, good);
  CHECK(store::FileCredentialStore::open(p).ok());
}

TEST_CASE("file store failed write keeps the old file and state", "[file_store]") {
  TempDir dir;
  const fs::path p = dir.path() / "credentials.json";
  auto store = store::FileCredentialStore::open(p);
  REQUIRE(store.ok());
  REQUIRE((*store)->add(sample_record(1)).ok());
  const auto old_size = fs::file_size(p);

  // Limit file size to the current file: writing the bigger new file fails with EFBIG (works as
  // root too, unlike directory permissions). SIGXFSZ is ignored so the write just fails.
  struct rlimit saved {};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = static_cast<rlim_t>(old_size);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  auto added = (*store)->add(sample_record(2));
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  std::signal(SIGXFSZ, old_handler);

  REQUIRE_FALSE(added.ok());
  CHECK(added.error().code == Errc::io);
  CHECK((*store)->size() == 1);
  CHECK(files_in(dir.path()) == 2);  // the store and its lock file: the temporary file was removed
  CHECK(fs::exists(dir.path() / "credentials.json.lock"));
  CHECK(fs::file_size(p) == old_size);
  auto reopened = store::FileCredentialStore::open(p);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->size() == 1);
  CHECK((*reopened)->find_by_id(Bytes(16, 1))->has_value());
  // The store still works once space is back.
  REQUIRE((*store)->add(sample_record(2)).ok());
  CHECK(store::FileCredentialStore::open(p).value()->size() == 2);
}

TEST_CASE("file store drives the software authenticator across restarts", "[file_store]") {
  TempDir dir;
  const fs::path p = dir.path() / "credentials.json";
  authenticator::AlwaysConfirm yes;
  Bytes credential_id;
  crypto::P256Uncompressed pub{};
  {
    auto store = store::FileCredentialStore::open(p);
    REQUIRE(store.ok());
    authenticator::SoftwareAuthenticator a(**store, yes);
    ctap::MakeCredentialRequest req;
    req.client_data_hash.fill(1);
    req.rp = {"example.com", "Example"};
    req.user = {Bytes{5}, "alice", "Alice"};
    req.pub_key_cred_params = {{"public-key", -7}};
    req.options.rk = true;
    auto resp = ctap::decode_make_credential_response(a.handle(ctap::encode_request(req)));
    REQUIRE(resp.ok());
    auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
    REQUIRE(ad.ok());
    credential_id = ad->attested->credential_id;
    auto key = ctap::cose_es256_parse(ad->attested->public_key);
    REQUIRE(key.ok());
    pub = key->uncompressed();
  }
  for (uint32_t expected = 1; expected <= 2; ++expected) {
    auto store = store::FileCredentialStore::open(p);
    REQUIRE(store.ok());
    authenticator::SoftwareAuthenticator a(**store, yes);
    ctap::GetAssertionRequest req;
    req.rp_id = "example.com";
    req.client_data_hash.fill(2);
    auto resp = ctap::decode_get_assertion_response(a.handle(ctap::encode_request(req)));
    REQUIRE(resp.ok());
    CHECK(resp->credential->id == credential_id);
    auto ad = ctap::AuthenticatorData::parse(resp->auth_data);
    REQUIRE(ad.ok());
    CHECK(ad->sign_count == expected);
    auto key = crypto::P256Public::parse(pub);
    REQUIRE(key.ok());
    CHECK(key->verify_sha256(concat({resp->auth_data, req.client_data_hash}), resp->signature));
  }
}

// ---------------------------------------------------------------- sealed stores (issue 25)

namespace {
const crypto::ScryptParams kCheap{4, 8, 1};  // the format is the same; a test needs no 128 MiB

std::string file_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("sealing keeps every credential and the PIN, and the sealed file needs its passphrase", "[file_store][seal]") {
  TempDir dir;
  const fs::path p = dir.path() / "store.json";
  {
    auto s = store::FileCredentialStore::open(p);
    REQUIRE(s);
    REQUIRE((*s)->add(sample_record(1)).ok());
    REQUIRE((*s)->add(sample_record(2)).ok());
    authenticator::PinRecord pin;
    pin.salt = Bytes(16, 3);
    pin.verifier = Bytes(32, 4);
    pin.kdf = kCheap;
    pin.retries = 6;
    pin.length = 4;
    REQUIRE((*s)->set_pin(pin).ok());
    CHECK_FALSE((*s)->sealed());
  }
  const std::string plain = file_text(p);
  const SecretBytes pass(as_bytes("correct horse"));
  // Opening a plaintext store with a passphrase does not seal it.
  REQUIRE(store::FileCredentialStore::open(p, &pass));
  CHECK(file_text(p) == plain);

  REQUIRE(store::FileCredentialStore::seal(p, pass, kCheap).ok());
  CHECK(mode_of(p) == 0600);
  const std::string sealed = file_text(p);
  CHECK(sealed.find("private_key") == std::string::npos);
  CHECK(sealed.find(base64url_encode(sample_record(1).private_key.view())) == std::string::npos);
  CHECK(sealed.find("\"version\": 2") != std::string::npos);
  CHECK(store::FileCredentialStore::seal(p, pass, kCheap).error().code == Errc::store_sealed);

  auto none = store::FileCredentialStore::open(p);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::store_sealed);
  const SecretBytes wrong(as_bytes("correct horse "));
  auto bad = store::FileCredentialStore::open(p, &wrong);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::store_passphrase);
  CHECK(file_text(p) == sealed);  // nothing lost, nothing changed

  auto s = store::FileCredentialStore::open(p, &pass);
  REQUIRE(s);
  CHECK((*s)->sealed());
  CHECK((*s)->size() == 2);
  auto r1 = (*s)->find_by_id(sample_record(1).credential_id);
  REQUIRE(r1);
  REQUIRE(r1->has_value());
  CHECK(ct_equal((*r1)->private_key.view(), sample_record(1).private_key.view()));
  CHECK((*s)->pin()->value().retries == 6);
  // Writes stay sealed, with a new nonce each time.
  REQUIRE((*s)->add(sample_record(3)).ok());
  const std::string after = file_text(p);
  CHECK(after.find("private_key") == std::string::npos);
  CHECK(after != sealed);
  auto again = store::FileCredentialStore::open(p, &pass);
  REQUIRE(again);
  CHECK((*again)->size() == 3);
}

TEST_CASE("a sealed file whose header or contents were changed does not open", "[file_store][seal]") {
  TempDir dir;
  const fs::path p = dir.path() / "store.json";
  const SecretBytes pass(as_bytes("pw"));
  REQUIRE(store::FileCredentialStore::seal(p, pass, kCheap).ok());  // no file: an empty sealed store
  auto s = store::FileCredentialStore::open(p, &pass);
  REQUIRE(s);
  REQUIRE((*s)->add(sample_record(9)).ok());
  const std::string text = file_text(p);
  // A different cost parameter (bound as associated data) or salt: the key no longer opens it.
  std::string changed = text;
  const auto at = changed.find("\"r\": 8");
  REQUIRE(at != std::string::npos);
  changed.replace(at, 6, "\"r\": 9");
  write_file(p, changed);
  auto r = store::FileCredentialStore::open(p, &pass);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::store_passphrase);
  write_file(p, text);
  REQUIRE(store::FileCredentialStore::open(p, &pass));
}

// ---------------------------------------------------------------- TPM-sealed stores (issue 25)
// The store's side of "kdf": "tpm2" with a TPM that lives in memory (the real one, tpm2-tss and
// swtpm, is tests/python/test_pin.py's test_tpm_sealed_store).

namespace {
// Unseals only what it sealed itself: another instance is "another machine's TPM".
class FakeTpm final : public store::TpmSealer {
 public:
  Result<store::SealKey> seal_new_key() override {
    ++calls;
    store::SealKey k;
    k.header.kind = store::SealKind::tpm2;
    k.header.tpm_public = Bytes{0, 4, 1, 2, 3, 4};
    k.header.tpm_private = crypto::random_bytes(40);
    k.key = SecretBytes(crypto::random_bytes(32));
    sealed_.emplace_back(k.header.tpm_private, k.key);
    return k;
  }
  Result<store::SealKey> unseal(const store::SealHeader& h) override {
    ++calls;
    for (const auto& [blob, key] : sealed_)
      if (blob == h.tpm_private) return store::SealKey{h, key};
    return make_error(Errc::store_sealed, "sealed by a TPM this machine does not have");
  }
  int calls = 0;

 private:
  std::vector<std::pair<Bytes, SecretBytes>> sealed_;
};
}  // namespace

TEST_CASE("TPM sealing keeps every credential, and the file opens only with that TPM", "[file_store][seal][tpm]") {
  TempDir dir;
  const fs::path p = dir.path() / "store.json";
  {
    auto s = store::FileCredentialStore::open(p);
    REQUIRE(s);
    REQUIRE((*s)->add(sample_record(1)).ok());
    REQUIRE((*s)->add(sample_record(2)).ok());
  }
  FakeTpm tpm, other;
  CHECK(store::FileCredentialStore::seal_kind(p).value() == std::nullopt);
  REQUIRE(store::FileCredentialStore::seal_tpm(p, tpm).ok());
  CHECK(mode_of(p) == 0600);
  CHECK(store::FileCredentialStore::seal_kind(p).value() == store::SealKind::tpm2);
  const std::string sealed = file_text(p);
  CHECK(sealed.find("\"kdf\": \"tpm2\"") != std::string::npos);
  CHECK(sealed.find("private_key") == std::string::npos);
  CHECK(sealed.find(base64url_encode(sample_record(1).private_key.view())) == std::string::npos);

  // No TPM, another TPM, a passphrase: store.sealed, the file unchanged.
  auto none = store::FileCredentialStore::open(p);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::store_sealed);
  auto elsewhere = store::FileCredentialStore::open(p, nullptr, &other);
  REQUIRE_FALSE(elsewhere);
  CHECK(elsewhere.error().code == Errc::store_sealed);
  CHECK(elsewhere.error().detail.find("does not have") != std::string::npos);
  const SecretBytes pass(as_bytes("correct horse"));
  auto with_pass = store::FileCredentialStore::open(p, &pass);
  REQUIRE_FALSE(with_pass);
  CHECK(with_pass.error().code == Errc::store_sealed);
  CHECK(file_text(p) == sealed);

  // Sealed already: neither seal asks the TPM anything or changes the file.
  const int calls = tpm.calls;
  CHECK(store::FileCredentialStore::seal_tpm(p, tpm).error().code == Errc::store_sealed);
  CHECK(store::FileCredentialStore::seal(p, pass, kCheap).error().code == Errc::store_sealed);
  CHECK(tpm.calls == calls);
  CHECK(file_text(p) == sealed);

  auto s = store::FileCredentialStore::open(p, nullptr, &tpm);
  REQUIRE(s);
  CHECK((*s)->sealed());
  CHECK((*s)->size() == 2);
  for (int i : {1, 2}) {
    auto r = (*s)->find_by_id(sample_record(i).credential_id);
    REQUIRE(r);
    REQUIRE(r->has_value());
    CHECK(ct_equal((*r)->private_key.view(), sample_record(i).private_key.view()));
  }
  REQUIRE((*s)->add(sample_record(3)).ok());  // written sealed by the same key
  const std::string after = file_text(p);
  CHECK(after.find("private_key") == std::string::npos);
  CHECK(after.find("\"kdf\": \"tpm2\"") != std::string::npos);
  CHECK(store::FileCredentialStore::open(p, nullptr, &tpm).value()->size() == 3);

  // A changed blob (bound as associated data) does not open, even by a TPM that unseals it.
  std::string changed = after;
  const auto at = changed.find("\"public\": \"");
  REQUIRE(at != std::string::npos);
  changed[at + 12] = changed[at + 12] == 'A' ? 'B' : 'A';
  write_file(p, changed);
  auto r = store::FileCredentialStore::open(p, nullptr, &tpm);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::store_sealed);
}
