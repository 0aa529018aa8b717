// SPDX-License-Identifier: Apache-2.0
#include "bridges/pam/pam_core.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>

namespace hgpam {

std::string Error::name() const {
  const char* n = hg_errc_name(code);
  return n ? n : "internal";
}

std::string Error::to_string() const {
  const char* sentence = hg_errc_sentence(code);
  std::string s = name() + ": " + (sentence ? sentence : "");
  if (!detail.empty()) s += " (" + detail + ")";
  return s;
}

Error Error::from(const hg_error& e) {
  std::string message(e.message, strnlen(e.message, sizeof e.message));
  const char* sentence = hg_errc_sentence(hg_error_code(&e));
  const std::string sent = sentence ? sentence : "";
  if (message.rfind(sent + " (", 0) == 0 && message.size() > sent.size() + 3 && message.back() == ')')
    message = message.substr(sent.size() + 2, message.size() - sent.size() - 3);
  else if (message == sent)
    message.clear();
  return Error{hg_error_code(&e), message};
}

// base64url without padding, over OpenSSL's base64 (EVP_EncodeBlock / EVP_DecodeBlock).
std::string base64url_encode(ByteView data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), int(data.size()));
  out.resize(size_t(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<Bytes> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string b64(text);
  for (char& c : b64) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return std::nullopt;  // not the url-safe alphabet
  }
  const size_t pad = (4 - b64.size() % 4) % 4;
  b64.append(pad, '=');
  Bytes out(b64.size() / 4 * 3 + 1);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(b64.data()), int(b64.size()));
  if (n < 0 || size_t(n) < pad) return std::nullopt;
  out.resize(size_t(n) - pad);
  // EVP_DecodeBlock skips blanks and accepts non-canonical trailing bits: insist on a round trip.
  if (base64url_encode(out) != text) return std::nullopt;
  return out;
}

namespace {

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
  return make_error(HG_E_STORE_CORRUPT, "authfile line " + std::to_string(n) + ": " + what);
}

Result<Credential> parse_line(std::string_view line, size_t n) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return corrupt_line(n, "no ':' after the user name");
  Credential c;
  c.user = std::string(line.substr(0, colon));
  if (!valid_user_name(c.user)) return corrupt_line(n, "not a valid user name");
  auto fields = split(line.substr(colon + 1), ',');
  if (fields.size() < 3 || fields.size() > 4) return corrupt_line(n, "expected CREDENTIAL_ID,PUBLIC_KEY,COUNTER[,FLAGS]");
  auto id = base64url_decode(fields[0]);
  if (!id || id->empty() || id->size() > 1023) return corrupt_line(n, "the credential ID is not base64url");
  auto key = base64url_decode(fields[1]);
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

Error refused(hg_errc code, const std::string& why) { return make_error(code, why); }

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
  if (text.size() > kMaxAuthfileSize) return make_error(HG_E_STORE_CORRUPT, "the authfile is too large");
  std::vector<Credential> out;
  size_t n = 0;
  for (auto raw : split(text, '\n')) {
    ++n;
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto c = parse_line(line, n);
    if (!c) return c.error();
    out.push_back(std::move(*c));
  }
  return out;
}

std::string format_line(const Credential& c) {
  std::string s = c.user + ":" + base64url_encode(c.id) + "," + base64url_encode(c.cose_key) + "," +
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

namespace {

long uid_of(FileOwner owner) { return owner ? long(*owner) : -1L; }

// hg_private_file_update with a C++ change function (the text, or nullopt when the file is
// missing -> the new text, nullopt to leave it, or an error).
using Change = std::function<Result<std::optional<std::string>>(const std::optional<std::string>&)>;

void fill(hg_error* err, const Error& e) {
  std::snprintf(err->code, sizeof err->code, "%s", e.name().c_str());
  const char* sentence = hg_errc_sentence(e.code);
  if (e.detail.empty())
    std::snprintf(err->message, sizeof err->message, "%s", sentence ? sentence : "");
  else
    std::snprintf(err->message, sizeof err->message, "%s (%s)", sentence ? sentence : "", e.detail.c_str());
}

int change_trampoline(void* user, const char* current, size_t len, char** next, hg_error* err) {
  try {
    auto& change = *static_cast<const Change*>(user);
    std::optional<std::string> cur;
    if (current != nullptr) cur.emplace(current, len);
    auto r = change(cur);
    if (!r) {
      fill(err, r.error());
      return HG_ERR;
    }
    if (!*r) return HG_OK;
    auto* s = static_cast<char*>(std::malloc((*r)->size() + 1));
    if (s == nullptr) throw std::bad_alloc();
    std::memcpy(s, (*r)->c_str(), (*r)->size() + 1);
    *next = s;
    return HG_OK;
  } catch (...) {
    fill(err, make_error(HG_E_INTERNAL, "out of memory"));
    return HG_ERR;
  }
}

Status update_file(const std::filesystem::path& path, const Change& change, FileOwner owner) {
  hg_error err{};
  if (hg_private_file_update(path.c_str(), uid_of(owner), change_trampoline, const_cast<Change*>(&change), &err) != HG_OK)
    return Error::from(err);
  return Unit{};
}

}  // namespace

Result<std::vector<Credential>> read_authfile(const std::filesystem::path& path, FileOwner owner) {
  hg_error err{};
  char* raw = nullptr;
  size_t len = 0;
  if (hg_private_file_read(path.c_str(), uid_of(owner), &raw, &len, &err) != HG_OK) return Error::from(err);
  if (raw == nullptr) return std::vector<Credential>{};
  std::unique_ptr<char, decltype(&hg_free)> owned(raw, hg_free);
  auto parsed = parse_authfile(std::string_view(raw, len));

  if (!parsed) return make_error(parsed.error().code, path.string() + ": " + parsed.error().detail);
  return parsed;
}

Status append_credential(const std::filesystem::path& path, const Credential& c, FileOwner owner) {
  const auto dir = path.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) return make_error(HG_E_IO, "cannot create " + dir.string() + ": " + ec.message());
      ::chmod(dir.c_str(), 0700);
    }
  }
  return update_file(
      path,
      [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
        std::string text = current.value_or(std::string());
        auto all = parse_authfile(text);
        if (!all) return make_error(all.error().code, path.string() + ": " + all.error().detail);
        for (const auto& existing : *all)
          if (existing.id == c.id)
            return make_error(HG_E_CTAP_CREDENTIAL_EXCLUDED, "this credential is in " + path.string() + " already");
        if (credentials_of(*all, c.user).size() >= kMaxCredentialsPerUser)
          return make_error(HG_E_INVALID_ARGUMENT, c.user + " has " + std::to_string(kMaxCredentialsPerUser) +
                                                        " enrolments already; remove one from " + path.string());
        if (!text.empty() && text.back() != '\n') text += '\n';
        if (text.empty()) text = "# hybridgate PAM authfile: USER:CREDENTIAL_ID,COSE_PUBLIC_KEY,COUNTER[,FLAGS]\n";
        text += format_line(c);
        return std::optional<std::string>(std::move(text));
      },
      owner);
}

Status store_counter(const std::filesystem::path& path, const std::string& user, ByteView credential_id,
                     uint32_t counter, FileOwner owner) {
  return update_file(
      path,
      [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
        if (!current) return make_error(HG_E_IO, path.string() + " is gone");
        // Rewrite only the one line; keep the others (and the comments) byte for byte.
        std::string out;
        bool found = false;
        size_t n = 0;
        for (auto raw : split(*current, '\n')) {
          ++n;
          const auto line = trim(raw);
          if (!line.empty() && line.front() != '#') {
            auto parsed = parse_line(line, n);
            if (!parsed) return parsed.error();
            Credential& c = *parsed;
            if (c.user == user && std::ranges::equal(c.id, credential_id)) {
              if (found) return corrupt_line(n, "the credential is listed twice");
              found = true;
              if (c.counter != 0 && c.counter >= counter)
                return make_error(HG_E_CTAP_NOT_ALLOWED,
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
        if (!found) return make_error(HG_E_IO, "the credential is no longer in " + path.string());
        return std::optional<std::string>(std::move(out));
      },
      owner);
}

namespace {

// The credential IDs of a list, as the library's hg_id_list (valid while `creds` is).
struct IdList {
  explicit IdList(const std::vector<Credential>& creds) {
    for (const auto& c : creds) {
      ptrs.push_back(c.id.data());
      lens.push_back(c.id.size());
    }
    list = hg_id_list{ptrs.data(), lens.data(), ptrs.size()};
  }
  std::vector<const uint8_t*> ptrs;
  std::vector<size_t> lens;
  hg_id_list list{};
};

Bytes take(uint8_t* p, size_t n) {
  Bytes out(p, p + n);
  hg_free(p);
  return out;
}

template <typename T>
Bytes bytes_of(void (*accessor)(const T*, const uint8_t**, size_t*), const T* object) {
  const uint8_t* p = nullptr;
  size_t n = 0;
  accessor(object, &p, &n);
  return n ? Bytes(p, p + n) : Bytes();
}

}  // namespace

Bytes make_credential_request(std::string_view rp_id, ByteView client_data_hash, ByteView user_id,
                              std::string_view user_name, std::string_view display_name,
                              const std::vector<Credential>& exclude) {
  const std::string rp(rp_id), name(user_name), display(display_name);
  const IdList ids(exclude);
  hg_error err{};
  uint8_t* req = nullptr;
  size_t len = 0;
  if (client_data_hash.size() != 32 ||
      hg_ctap_make_credential_request(rp.c_str(), rp.c_str(), client_data_hash.data(), user_id.data(), user_id.size(),
                                      name.c_str(), display.c_str(), HG_COSE_ES256, &ids.list, 0, &req, &len,
                                      &err) != HG_OK)
    throw std::invalid_argument("makeCredential request: " + Error::from(err).to_string());
  return take(req, len);
}

Result<Credential> parse_make_credential_response(ByteView response, std::string_view rp_id, const std::string& user) {
  const std::string rp(rp_id);
  hg_error err{};
  hg_credential* raw = nullptr;
  if (hg_ctap_read_credential(response.data(), response.size(), rp.c_str(), HG_COSE_ES256, &raw, &err) != HG_OK)
    return Error::from(err);
  std::unique_ptr<hg_credential, void (*)(hg_credential*)> cred(raw, [](hg_credential* c) { hg_credential_free(&c); });
  Credential c;
  c.user = user;
  c.id = bytes_of(hg_credential_id, cred.get());
  c.cose_key = bytes_of(hg_credential_cose_key, cred.get());
  c.counter = hg_credential_sign_count(cred.get());
  c.flags = (hg_credential_flags(cred.get()) & HG_AUTH_DATA_UV) ? "up+uv" : "up";
  return c;
}

Bytes get_assertion_request(std::string_view rp_id, ByteView client_data_hash, const std::vector<Credential>& allow,
                            bool require_uv) {
  const std::string rp(rp_id);
  const IdList ids(allow);
  hg_error err{};
  uint8_t* req = nullptr;
  size_t len = 0;
  if (client_data_hash.size() != 32 ||
      hg_ctap_get_assertion_request(rp.c_str(), client_data_hash.data(), &ids.list,
                                    require_uv ? HG_CTAP_USER_VERIFICATION : 0u, &req, &len, &err) != HG_OK)
    throw std::invalid_argument("getAssertion request: " + Error::from(err).to_string());
  return take(req, len);
}

Result<VerifiedAssertion> verify_assertion(ByteView response, std::string_view rp_id, ByteView client_data_hash,
                                           const std::vector<Credential>& allow, bool require_uv) {
  if (allow.empty()) return make_error(HG_E_INVALID_ARGUMENT, "no credentials to check against");
  if (client_data_hash.size() != 32) return make_error(HG_E_INVALID_ARGUMENT, "the clientDataHash is not 32 bytes");
  const std::string rp(rp_id);
  const IdList ids(allow);
  hg_error err{};
  hg_assertion* raw = nullptr;
  // The library decodes the answer and checks its status, the rpIdHash and which credential of
  // the list signed (CTAP: it may be omitted for a one-entry allowList).
  if (hg_ctap_read_assertion(response.data(), response.size(), rp.c_str(), &ids.list, &raw, &err) != HG_OK)
    return Error::from(err);
  std::unique_ptr<hg_assertion, void (*)(hg_assertion*)> a(raw, [](hg_assertion* p) { hg_assertion_free(&p); });
  const size_t index = hg_assertion_allow_index(a.get());
  if (index >= allow.size()) return refused(HG_E_CTAP_INVALID, "the phone signed with a credential that is not enrolled");
  const Credential& c = allow[index];
  const uint8_t flags = hg_assertion_flags(a.get());
  if (!(flags & HG_AUTH_DATA_UP)) return refused(HG_E_CTAP_INVALID, "the phone did not check for user presence (UP)");
  if (require_uv && !(flags & HG_AUTH_DATA_UV))
    return refused(HG_E_CTAP_INVALID, "the phone did not verify the user (UV), which is required");
  if (hg_assertion_verify_cose(a.get(), client_data_hash.data(), c.cose_key.data(), c.cose_key.size(), &err) != HG_OK) {
    Error e = Error::from(err);
    if (e.code == HG_E_INVALID_ARGUMENT) return refused(HG_E_STORE_CORRUPT, "a stored public key is not an ES256 COSE key");
    return refused(HG_E_CTAP_INVALID, "the signature does not verify with the enrolled public key");
  }
  // The counter must rise; both zero = an authenticator without a counter.
  const uint32_t count = hg_assertion_sign_count(a.get());
  if ((c.counter != 0 || count != 0) && count <= c.counter)
    return refused(HG_E_CTAP_NOT_ALLOWED, "the signature counter did not rise (" + std::to_string(count) + " after " +
                                              std::to_string(c.counter) + "): possibly a cloned credential");
  return VerifiedAssertion{index, count, (flags & HG_AUTH_DATA_UV) != 0};
}

std::array<uint8_t, 32> fresh_challenge() {
  std::array<uint8_t, 32> out{};
  if (RAND_bytes(out.data(), int(out.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  return out;
}

}  // namespace hgpam
