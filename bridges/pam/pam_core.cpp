// SPDX-License-Identifier: Apache-2.0
#include "bridges/pam/pam_core.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "proto/cbor.hpp"
#include "proto/crypto.hpp"
#include "proto/ctap.hpp"

namespace hgpam {
namespace {

using hg::Errc;
using hg::make_error;
namespace ctap = hg::ctap;
namespace cbor = hg::cbor;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

Error corrupt_line(size_t n, const char* what) {
  return make_error(Errc::store_corrupt, "authfile line " + std::to_string(n) + ": " + what);
}

Result<Credential> parse_line(std::string_view line, size_t n) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return corrupt_line(n, "no ':' after the user name");
  Credential c;
  c.user = std::string(line.substr(0, colon));
  if (!valid_user_name(c.user)) return corrupt_line(n, "not a valid user name");
  auto fields = split(line.substr(colon + 1), ',');
  if (fields.size() < 3 || fields.size() > 4) return corrupt_line(n, "expected CREDENTIAL_ID,PUBLIC_KEY,COUNTER[,FLAGS]");
  auto id = hg::base64url_decode(fields[0]);
  if (!id || id->empty() || id->size() > 1023) return corrupt_line(n, "the credential ID is not base64url");
  auto key = hg::base64url_decode(fields[1]);
  if (!key || key->empty() || key->size() > 1024) return corrupt_line(n, "the public key is not base64url");
  uint32_t counter = 0;
  const auto cf = fields[2];
  auto [end, ec] = std::from_chars(cf.data(), cf.data() + cf.size(), counter);
  if (cf.empty() || ec != std::errc() || end != cf.data() + cf.size()) return corrupt_line(n, "the counter is not a number");
  c.id = std::move(*id);
  c.cose_key = std::move(*key);
  c.counter = counter;
  if (fields.size() == 4) {
    if (fields[3] != "up" && fields[3] != "up+uv") return corrupt_line(n, "unknown flags");
    c.flags = std::string(fields[3]);
  }
  return c;
}

// The ES256 key of a stored COSE key.
Result<hg::crypto::P256Public> stored_key(const Credential& c) {
  auto v = cbor::decode(c.cose_key);
  if (!v || !v->is_map()) return make_error(Errc::store_corrupt, "a stored public key is not a COSE key");
  auto key = ctap::cose_es256_parse(v->as_map());
  if (!key) return make_error(Errc::store_corrupt, "a stored public key is not an ES256 key");
  return key;
}

Error refused(Errc code, const std::string& why) { return make_error(code, why); }

}  // namespace

bool valid_user_name(std::string_view user) {
  if (user.empty() || user.size() > 256) return false;
  return std::ranges::none_of(user, [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x21 || u == 0x7f || ch == ':' || ch == ',' || ch == '#';
  });
}

bool valid_rp_id(std::string_view rp_id) {
  if (rp_id.empty() || rp_id.size() > 253) return false;
  return std::ranges::none_of(rp_id, [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x21 || u == 0x7f;
  });
}

Result<std::vector<Credential>> parse_authfile(std::string_view text) {
  if (text.size() > kMaxAuthfileSize) return make_error(Errc::store_corrupt, "the authfile is too large");
  std::vector<Credential> out;
  size_t n = 0;
  for (auto raw : split(text, '\n')) {
    ++n;
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    HG_TRY(auto c, parse_line(line, n));
    out.push_back(std::move(c));
  }
  return out;
}

std::string format_line(const Credential& c) {
  std::string s = c.user + ":" + hg::base64url_encode(c.id) + "," + hg::base64url_encode(c.cose_key) + "," +
                  std::to_string(c.counter);
  if (!c.flags.empty()) s += "," + c.flags;
  return s + "\n";
}

std::vector<Credential> credentials_of(const std::vector<Credential>& all, std::string_view user) {
  std::vector<Credential> out;
  for (const auto& c : all)
    if (c.user == user) out.push_back(c);
  return out;
}

Result<std::vector<Credential>> read_authfile(const std::filesystem::path& path, hg::store::FileOwner owner) {
  HG_TRY(auto text, hg::store::read_private_file(path, owner));
  if (!text) return std::vector<Credential>{};
  auto parsed = parse_authfile(*text);
  if (!parsed) return make_error(parsed.error().code, path.string() + ": " + parsed.error().detail);
  return parsed;
}

Status append_credential(const std::filesystem::path& path, const Credential& c, hg::store::FileOwner owner) {
  const auto dir = path.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) return make_error(Errc::io, "cannot create " + dir.string() + ": " + ec.message());
      ::chmod(dir.c_str(), 0700);
    }
  }
  return hg::store::update_private_file(
      path,
      [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
        std::string text = current.value_or(std::string());
        auto all = parse_authfile(text);
        if (!all) return make_error(all.error().code, path.string() + ": " + all.error().detail);
        for (const auto& existing : *all)
          if (existing.id == c.id)
            return make_error(Errc::ctap_credential_excluded, "this credential is in " + path.string() + " already");
        if (credentials_of(*all, c.user).size() >= kMaxCredentialsPerUser)
          return make_error(Errc::invalid_argument, c.user + " has " + std::to_string(kMaxCredentialsPerUser) +
                                                        " enrolments already; remove one from " + path.string());
        if (!text.empty() && text.back() != '\n') text += '\n';
        if (text.empty()) text = "# hybridgate PAM authfile: USER:CREDENTIAL_ID,COSE_PUBLIC_KEY,COUNTER[,FLAGS]\n";
        text += format_line(c);
        return std::optional<std::string>(std::move(text));
      },
      owner);
}

Status store_counter(const std::filesystem::path& path, const std::string& user, ByteView credential_id,
                     uint32_t counter, hg::store::FileOwner owner) {
  return hg::store::update_private_file(
      path,
      [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
        if (!current) return make_error(Errc::io, path.string() + " is gone");
        // Rewrite only the one line; keep the others (and the comments) byte for byte.
        std::string out;
        bool found = false;
        size_t n = 0;
        for (auto raw : split(*current, '\n')) {
          ++n;
          const auto line = trim(raw);
          if (!line.empty() && line.front() != '#') {
            HG_TRY(auto c, parse_line(line, n));
            if (c.user == user && std::ranges::equal(c.id, credential_id)) {
              if (found) return corrupt_line(n, "the credential is listed twice");
              found = true;
              if (c.counter != 0 && c.counter >= counter)
                return make_error(Errc::ctap_not_allowed,
                                  "the signature counter did not rise (a cloned credential, or a concurrent sign-in)");
              c.counter = counter;
              std::string formatted = format_line(c);
              formatted.pop_back();
              out += formatted;
              out += '\n';
              continue;
            }
          }
          out += raw;
          out += '\n';
        }
        if (!out.empty()) out.pop_back();  // split() saw one more piece than there were '\n'
        if (!found) return make_error(Errc::io, "the credential is no longer in " + path.string());
        return std::optional<std::string>(std::move(out));
      },
      owner);
}

Bytes make_credential_request(std::string_view rp_id, ByteView client_data_hash, ByteView user_id,
                              std::string_view user_name, std::string_view display_name,
                              const std::vector<Credential>& exclude) {
  ctap::MakeCredentialRequest r;
  std::copy_n(client_data_hash.begin(), std::min<size_t>(client_data_hash.size(), r.client_data_hash.size()),
              r.client_data_hash.begin());
  r.rp = ctap::RpEntity{std::string(rp_id), std::string(rp_id)};
  r.user = ctap::UserEntity{Bytes(user_id.begin(), user_id.end()), std::string(user_name), std::string(display_name)};
  r.pub_key_cred_params = {ctap::CredentialParameters{}};  // public-key, ES256
  if (!exclude.empty()) {
    std::vector<ctap::CredentialDescriptor> list;
    for (const auto& c : exclude) list.push_back(ctap::CredentialDescriptor{std::string(ctap::kPublicKeyType), c.id, std::nullopt});
    r.exclude_list = std::move(list);
  }
  r.options.rk = false;
  return ctap::encode_request(r);
}

Result<Credential> parse_make_credential_response(ByteView response, std::string_view rp_id, const std::string& user) {
  HG_TRY(auto resp, ctap::decode_make_credential_response(response));
  HG_TRY(auto ad, ctap::AuthenticatorData::parse(resp.auth_data));
  const auto want = hg::crypto::sha256(hg::as_bytes(rp_id));
  if (ad.rp_id_hash != want) return refused(Errc::ctap_invalid, "the phone answered for another rpId");
  if (!ad.user_present()) return refused(Errc::ctap_invalid, "the phone did not check for user presence (UP)");
  if (!ad.attested) return refused(Errc::ctap_invalid, "the phone sent no attested credential data");
  if (ad.attested->credential_id.empty()) return refused(Errc::ctap_invalid, "the phone sent an empty credential ID");
  auto key = ctap::cose_es256_parse(ad.attested->public_key);
  if (!key) return refused(Errc::ctap_unsupported_algorithm, "the phone's new key is not an ES256 key");
  Credential c;
  c.user = user;
  c.id = ad.attested->credential_id;
  c.cose_key = cbor::encode(cbor::Value(ctap::cose_es256_encode(key->uncompressed())));
  c.counter = ad.sign_count;
  c.flags = ad.user_verified() ? "up+uv" : "up";
  return c;
}

Bytes get_assertion_request(std::string_view rp_id, ByteView client_data_hash, const std::vector<Credential>& allow,
                            bool require_uv) {
  ctap::GetAssertionRequest r;
  r.rp_id = std::string(rp_id);
  std::copy_n(client_data_hash.begin(), std::min<size_t>(client_data_hash.size(), r.client_data_hash.size()),
              r.client_data_hash.begin());
  std::vector<ctap::CredentialDescriptor> list;
  for (const auto& c : allow) list.push_back(ctap::CredentialDescriptor{std::string(ctap::kPublicKeyType), c.id, std::nullopt});
  r.allow_list = std::move(list);
  r.options.up = true;
  if (require_uv) r.options.uv = true;
  return ctap::encode_request(r);
}

Result<VerifiedAssertion> verify_assertion(ByteView response, std::string_view rp_id, ByteView client_data_hash,
                                           const std::vector<Credential>& allow, bool require_uv) {
  if (allow.empty()) return make_error(Errc::invalid_argument, "no credentials to check against");
  HG_TRY(auto resp, ctap::decode_get_assertion_response(response));
  // Which credential: the response names it, or (CTAP: may be omitted for a one-entry allowList)
  // the only one asked for.
  size_t index = allow.size();
  if (resp.credential) {
    for (size_t i = 0; i < allow.size(); ++i)
      if (allow[i].id == resp.credential->id) index = i;
    if (index == allow.size()) return refused(Errc::ctap_invalid, "the phone signed with a credential that is not enrolled");
  } else if (allow.size() == 1) {
    index = 0;
  } else {
    return refused(Errc::ctap_invalid, "the phone did not say which credential signed");
  }
  const Credential& c = allow[index];
  HG_TRY(auto ad, ctap::AuthenticatorData::parse(resp.auth_data));
  const auto want = hg::crypto::sha256(hg::as_bytes(rp_id));
  if (ad.rp_id_hash != want) return refused(Errc::ctap_invalid, "the assertion is for another rpId");
  if (!ad.user_present()) return refused(Errc::ctap_invalid, "the phone did not check for user presence (UP)");
  if (require_uv && !ad.user_verified())
    return refused(Errc::ctap_invalid, "the phone did not verify the user (UV), which is required");
  HG_TRY(auto key, stored_key(c));
  Bytes signed_data = resp.auth_data;
  signed_data.insert(signed_data.end(), client_data_hash.begin(), client_data_hash.end());
  if (!key.verify_sha256(signed_data, resp.signature))
    return refused(Errc::ctap_invalid, "the signature does not verify with the enrolled public key");
  // The counter must rise; both zero = an authenticator without a counter.
  if ((c.counter != 0 || ad.sign_count != 0) && ad.sign_count <= c.counter)
    return refused(Errc::ctap_not_allowed, "the signature counter did not rise (" + std::to_string(ad.sign_count) +
                                               " after " + std::to_string(c.counter) + "): possibly a cloned credential");
  return VerifiedAssertion{index, ad.sign_count, ad.user_verified()};
}

std::array<uint8_t, 32> fresh_challenge() { return hg::crypto::random_array<32>(); }

}  // namespace hgpam
