// SPDX-License-Identifier: Apache-2.0
// hg_pam_core (bridges/pam): the authfile parser and writer, and the checks of the phone's answers
// against the project's software authenticator as the phone; bad input of every kind is an error,
// never a crash.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bridges/pam/pam_core.hpp"
#include "proto/authenticator.hpp"
#include "proto/crypto.hpp"

using namespace hgpam;

namespace {

// Approves, and enters the store's PIN when the phone asks for user verification.
struct PinPresence final : hg::authenticator::UserPresence {
  bool confirm(const std::string&, const std::string&, hg::authenticator::Operation) override { return true; }
  std::optional<hg::SecretBytes> ask_pin(const hg::authenticator::PinPrompt&, const std::atomic<bool>&) override {
    return hg::SecretBytes(hg::as_bytes("1234"));
  }
};

hg::authenticator::Config cheap_pin_kdf() {
  hg::authenticator::Config c;
  c.pin_kdf = hg::crypto::ScryptParams{4, 8, 1};
  return c;
}

struct Phone {
  hg::authenticator::MemoryCredentialStore store;
  PinPresence yes;
  hg::authenticator::SoftwareAuthenticator authn{store, yes, cheap_pin_kdf()};
  Phone() { REQUIRE(authn.set_pin(hg::as_bytes("1234"), std::nullopt).ok()); }
};

Credential enrol(Phone& p, const std::string& rp = "pam:test") {
  const auto cdh = fresh_challenge();
  const Bytes uid(16, 7);
  auto resp = p.authn.handle(make_credential_request(rp, cdh, uid, "alice@host", "alice@host", {}));
  auto c = parse_make_credential_response(resp, rp, "alice");
  REQUIRE(c.ok());
  return *c;
}

std::string temp_dir() {
  std::string t = (std::filesystem::temp_directory_path() / "hg-pam-core-XXXXXX").string();
  REQUIRE(::mkdtemp(t.data()) != nullptr);
  return t;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("authfile lines parse, and malformed ones are refused with their line number") {
  Phone p;
  const Credential c = enrol(p);
  const std::string text = "# comment\n\n" + format_line(c) + "bob:" + hg::base64url_encode(c.id) + "," +
                           hg::base64url_encode(c.cose_key) + ",4294967295\n";
  auto all = parse_authfile(text);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].user == "alice");
  CHECK((*all)[0].id == c.id);
  CHECK((*all)[0].flags == "up");  // enrolment does not ask for user verification: not claimed
  CHECK((*all)[1].counter == 4294967295u);
  CHECK(credentials_of(*all, "bob").size() == 1);

  for (const char* bad : {"alice", "alice:", "alice:AAAA", "alice:AAAA,AAAA", "alice:AAAA,AAAA,x",
                          "alice:AAAA,AAAA,4294967296", "alice:AAAA,AAAA,-1", "alice:!!!!,AAAA,1",
                          "alice:AAAA,AAAA,1,root", "alice:AAAA,AAAA,1,up,extra", ":AAAA,AAAA,1", "a b:AAAA,AAAA,1"}) {
    auto r = parse_authfile(std::string("# ok\n") + bad + "\n");
    INFO(bad);
    REQUIRE(!r.ok());
    CHECK(r.error().code == HG_E_STORE_CORRUPT);
    CHECK(r.error().detail.find("line 2") != std::string::npos);
  }
  CHECK(!parse_authfile(std::string(kMaxAuthfileSize + 1, '#')).ok());
}

TEST_CASE("random bytes as an authfile or as the phone's answer are errors, not crashes") {
  Phone p;
  const Credential c = enrol(p);
  const auto cdh = fresh_challenge();
  for (int i = 0; i < 2000; ++i) {
    const Bytes junk = hg::crypto::random_bytes(size_t(i % 300));
    (void)parse_authfile(std::string(junk.begin(), junk.end()));
    CHECK(!verify_assertion(junk, "pam:test", cdh, {c}, false).ok());
    CHECK(!parse_make_credential_response(junk, "pam:test", "alice").ok());
  }
  // A valid answer cut short at every length.
  const Bytes good = p.authn.handle(get_assertion_request("pam:test", cdh, {c}, false));
  REQUIRE(verify_assertion(good, "pam:test", cdh, {c}, false).ok());
  for (size_t n = 0; n < good.size(); ++n)
    CHECK(!verify_assertion(hg::ByteView(good).first(n), "pam:test", cdh, {c}, false).ok());
}

TEST_CASE("an assertion verifies once per counter value, for its rpId, challenge and key only") {
  Phone p;
  Credential c = enrol(p);
  const auto cdh = fresh_challenge();
  const Bytes resp = p.authn.handle(get_assertion_request("pam:test", cdh, {c}, true));
  auto v = verify_assertion(resp, "pam:test", cdh, {c}, true);
  REQUIRE(v.ok());
  CHECK(v->counter == 1);
  CHECK(v->user_verified);

  auto other_cdh = cdh;
  other_cdh[0] ^= 1;
  CHECK(verify_assertion(resp, "pam:test", other_cdh, {c}, false).error().detail.find("signature") != std::string::npos);
  CHECK(!verify_assertion(resp, "pam:other", cdh, {c}, false).ok());
  Phone q;
  Credential wrong_key = c;
  wrong_key.cose_key = enrol(q).cose_key;
  CHECK(!verify_assertion(resp, "pam:test", cdh, {wrong_key}, false).ok());
  Credential seen = c;
  seen.counter = 1;  // the same answer again (a replay), or a clone behind
  CHECK(verify_assertion(resp, "pam:test", cdh, {seen}, false).error().code == HG_E_CTAP_NOT_ALLOWED);

  // The phone refusing is its CTAP status, as an error.
  Credential unknown = c;
  unknown.id = Bytes(16, 1);
  const Bytes none = p.authn.handle(get_assertion_request("pam:test", cdh, {unknown}, false));
  CHECK(verify_assertion(none, "pam:test", cdh, {unknown}, false).error().code == HG_E_CTAP_NO_CREDENTIALS);
}

TEST_CASE("the authfile is written 0600, appended once per credential, its counter only rising") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/sub/pam_keys";
  Phone p;
  const Credential c = enrol(p);
  REQUIRE(append_credential(path, c, std::nullopt).ok());
  CHECK(append_credential(path, c, std::nullopt).error().code == HG_E_CTAP_CREDENTIAL_EXCLUDED);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir + "/sub").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  // Other users' lines and comments stay byte for byte.
  {
    std::ofstream f(path, std::ios::app);
    f << "# bob's phone\nbob:" << hg::base64url_encode(c.id) << "," << hg::base64url_encode(c.cose_key) << ",9\n";
  }
  REQUIRE(store_counter(path, "alice", c.id, 5, std::nullopt).ok());
  CHECK(store_counter(path, "alice", c.id, 5, std::nullopt).error().code == HG_E_CTAP_NOT_ALLOWED);
  CHECK(!store_counter(path, "carol", c.id, 6, std::nullopt).ok());
  auto all = read_authfile(path, std::nullopt);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].counter == 5);
  CHECK((*all)[1].counter == 9);
  CHECK(slurp(path).find("# bob's phone\n") != std::string::npos);

  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  CHECK(read_authfile(path, std::nullopt).error().code == HG_E_STORE_PERMISSIONS);
  CHECK(!store_counter(path, "alice", c.id, 6, std::nullopt).ok());
  std::filesystem::remove_all(dir);
}
