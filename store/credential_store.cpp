// SPDX-License-Identifier: Apache-2.0
#include "store/credential_store.hpp"

#include "store/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

namespace hg::store {

namespace {

using authenticator::CredentialRecord;
using json = nlohmann::json;

constexpr int kFormatVersion = 1;

bool same_id(ByteView a, ByteView b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

// ---------------------------------------------------------------- JSON <-> records

// Built by assignment (not initializer lists, which copy) so the private key text exists once,
// inside the document, where wipe_private_keys() can reach it.
json to_json(const std::vector<CredentialRecord>& records) {
  json creds = json::array();
  for (const auto& r : records) {
    json c = json::object();
    c["id"] = base64url_encode(r.credential_id);
    c["rp_id"] = r.rp_id;
    c["rp_name"] = r.rp_name;
    c["user_id"] = base64url_encode(r.user_id);
    c["user_name"] = r.user_name;
    c["display_name"] = r.display_name;
    std::string key = base64url_encode(r.private_key.view());
    c["private_key"] = std::move(key);
    c["sign_count"] = r.sign_count;
    c["created"] = r.created;
    c["discoverable"] = r.discoverable;
    if (r.alg != ctap::cose::alg_es256) c["alg"] = r.alg;  // absent = ES256 (files from before EdDSA)
    creds.push_back(std::move(c));
  }
  json doc = json::object();
  doc["version"] = kFormatVersion;
  doc["credentials"] = std::move(creds);
  return doc;
}

void wipe_private_keys(json& doc) noexcept {
  try {
    if (!doc.is_object() || !doc.contains("credentials") || !doc["credentials"].is_array()) return;
    for (auto& c : doc["credentials"])
      if (c.is_object() && c.contains("private_key") && c["private_key"].is_string())
        wipe_string(c["private_key"].get_ref<std::string&>());
  } catch (...) {
  }
}

Error corrupt(const std::filesystem::path& p, const std::string& what) {
  return make_error(Errc::store_corrupt, p.string() + ": " + what);
}

Result<std::string> text_field(const json& c, const char* key) {
  auto it = c.find(key);
  if (it == c.end() || !it->is_string()) return make_error(Errc::store_corrupt, std::string("field ") + key);
  return it->get<std::string>();
}

Result<Bytes> b64_field(const json& c, const char* key) {
  auto it = c.find(key);
  if (it == c.end() || !it->is_string()) return make_error(Errc::store_corrupt, std::string("field ") + key);
  auto b = base64url_decode(it->get_ref<const std::string&>());
  if (!b) return make_error(Errc::store_corrupt, std::string("field ") + key + " is not base64url");
  return std::move(*b);
}

Result<uint64_t> uint_field(const json& c, const char* key, uint64_t max) {
  auto it = c.find(key);
  if (it == c.end() || !it->is_number_unsigned()) return make_error(Errc::store_corrupt, std::string("field ") + key);
  const auto v = it->get<uint64_t>();
  if (v > max) return make_error(Errc::store_corrupt, std::string("field ") + key + " out of range");
  return v;
}

Result<CredentialRecord> record_from_json(const json& c) {
  if (!c.is_object()) return make_error(Errc::store_corrupt, "credential is not an object");
  CredentialRecord r;
  HG_TRY(r.credential_id, b64_field(c, "id"));
  HG_TRY(r.rp_id, text_field(c, "rp_id"));
  HG_TRY(r.rp_name, text_field(c, "rp_name"));
  HG_TRY(r.user_id, b64_field(c, "user_id"));
  HG_TRY(r.user_name, text_field(c, "user_name"));
  HG_TRY(r.display_name, text_field(c, "display_name"));
  HG_TRY(Bytes key, b64_field(c, "private_key"));
  r.private_key = SecretBytes(std::move(key));
  if (r.private_key.size() != 32) return make_error(Errc::store_corrupt, "private_key is not 32 bytes");
  if (r.credential_id.empty()) return make_error(Errc::store_corrupt, "empty credential id");
  HG_TRY(uint64_t count, uint_field(c, "sign_count", UINT32_MAX));
  r.sign_count = static_cast<uint32_t>(count);
  HG_TRY(r.created, uint_field(c, "created", UINT64_MAX));
  auto disc = c.find("discoverable");
  if (disc == c.end() || !disc->is_boolean()) return make_error(Errc::store_corrupt, "field discoverable");
  r.discoverable = disc->get<bool>();
  // "alg" came with EdDSA; a credential without it is ES256, as every credential was before.
  if (auto alg = c.find("alg"); alg != c.end()) {
    if (!alg->is_number_integer()) return make_error(Errc::store_corrupt, "field alg");
    r.alg = alg->get<int64_t>();
    if (r.alg != ctap::cose::alg_es256 && r.alg != ctap::cose::alg_edDSA)
      return make_error(Errc::store_corrupt, "field alg names an unsupported algorithm");
  }
  return r;
}

Result<std::vector<CredentialRecord>> records_from_json(const json& doc) {
  if (!doc.is_object()) return make_error(Errc::store_corrupt, "not a JSON object");
  auto ver = doc.find("version");
  if (ver == doc.end() || !ver->is_number_integer() || ver->get<int64_t>() != kFormatVersion)
    return make_error(Errc::store_corrupt, "unknown or missing format version");
  auto creds = doc.find("credentials");
  if (creds == doc.end() || !creds->is_array()) return make_error(Errc::store_corrupt, "missing credentials array");
  std::vector<CredentialRecord> out;
  for (const auto& c : *creds) {
    HG_TRY(auto r, record_from_json(c));
    for (const auto& existing : out)
      if (same_id(existing.credential_id, r.credential_id))
        return make_error(Errc::store_corrupt, "duplicate credential id");
    out.push_back(std::move(r));
  }
  return out;
}


// The records in a store file's text (store.corrupt when it is not one). Wipes the text.
Result<std::vector<CredentialRecord>> parse_store(const std::filesystem::path& path, std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  wipe_string(text);
  if (doc.is_discarded()) return corrupt(path, "not valid JSON");
  auto records = records_from_json(doc);
  wipe_private_keys(doc);
  if (!records) return corrupt(path, records.error().detail);
  return records;
}

Result<std::string> serialise_store(const std::vector<CredentialRecord>& records) {
  try {
    json doc = to_json(records);
    std::string text = doc.dump(2) + "\n";  // strict UTF-8; the CBOR decoder already rejects invalid text
    wipe_private_keys(doc);
    return text;
  } catch (const std::exception& e) {
    return make_error(Errc::io, std::string("cannot serialise the credential store: ") + e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------- FileCredentialStore

Result<std::unique_ptr<FileCredentialStore>> FileCredentialStore::open(const std::filesystem::path& path) {
  HG_TRY(auto existing, read_private_file(path));
  if (!existing) HG_CHECK(create_private_file(path, to_json({}).dump(2) + "\n"));  // no keys in an empty store
  std::unique_ptr<FileCredentialStore> store(new FileCredentialStore(path));
  HG_CHECK(store->load());  // also refuses a damaged store before anything else happens
  return store;
}

Status FileCredentialStore::load() {
  HG_TRY(auto text, read_private_file(path_));
  if (!text) return make_error(Errc::io, path_.string() + " disappeared");
  HG_TRY(records_, parse_store(path_, *text));
  return ok_status();
}

Status FileCredentialStore::change(const std::function<Status(std::vector<CredentialRecord>&)>& edit) {
  std::vector<CredentialRecord> written;
  Status st = update_private_file(path_, [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
    if (!current) return make_error(Errc::io, path_.string() + " disappeared");
    std::string text = *current;
    HG_TRY(auto records, parse_store(path_, text));
    HG_CHECK(edit(records));
    HG_TRY(std::string next, serialise_store(records));
    written = std::move(records);
    return std::optional<std::string>(std::move(next));
  });
  if (!st) return st;
  records_ = std::move(written);
  return ok_status();
}

Result<std::vector<CredentialRecord>> FileCredentialStore::find_by_rp(const std::string& rp_id) {
  HG_CHECK(load());  // what other processes wrote since
  std::vector<CredentialRecord> out;
  for (const auto& r : records_)
    if (r.rp_id == rp_id) out.push_back(r);
  return out;
}

Result<std::optional<CredentialRecord>> FileCredentialStore::find_by_id(ByteView credential_id) {
  HG_CHECK(load());
  for (const auto& r : records_)
    if (same_id(r.credential_id, credential_id)) return std::optional<CredentialRecord>(r);
  return std::optional<CredentialRecord>{};
}

Status FileCredentialStore::add(const CredentialRecord& record) {
  return change([&](std::vector<CredentialRecord>& records) -> Status {
    for (const auto& r : records)
      if (same_id(r.credential_id, record.credential_id))
        return make_error(Errc::invalid_argument, "credential ID already stored");
    records.push_back(record);
    return ok_status();
  });
}

Status FileCredentialStore::remove(ByteView credential_id) {
  return change([&](std::vector<CredentialRecord>& records) -> Status {
    std::erase_if(records, [&](const CredentialRecord& r) { return same_id(r.credential_id, credential_id); });
    return ok_status();
  });
}

Status FileCredentialStore::update_sign_count(ByteView credential_id, uint32_t sign_count) {
  return change([&](std::vector<CredentialRecord>& records) -> Status {
    for (auto& r : records) {
      if (same_id(r.credential_id, credential_id)) {
        // Another process may have signed with this credential meanwhile: never go back.
        r.sign_count = std::max(r.sign_count, sign_count);
        return ok_status();
      }
    }
    return make_error(Errc::invalid_argument, "unknown credential ID");
  });
}

}  // namespace hg::store
