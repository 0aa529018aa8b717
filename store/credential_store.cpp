// SPDX-License-Identifier: Apache-2.0
#include "store/credential_store.hpp"

#include "store/private_file.hpp"
#include "proto/crypto.hpp"

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

constexpr int kFormatVersion = 1;        // credentials in the clear
constexpr int kSealedFormatVersion = 2;  // credentials sealed (scrypt + AES-256-GCM)

bool same_id(ByteView a, ByteView b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

// ---------------------------------------------------------------- JSON <-> records

// Built by assignment (not initializer lists, which copy) so the private key text exists once,
// inside the document, where wipe_private_keys() can reach it.
json to_json(const std::vector<CredentialRecord>& records, const std::optional<authenticator::PinRecord>& pin) {
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
  if (pin) {
    json p = json::object();
    p["salt"] = base64url_encode(pin->salt);
    p["verifier"] = base64url_encode(pin->verifier);
    p["scrypt_log2_n"] = pin->kdf.log2_n;
    p["scrypt_r"] = pin->kdf.r;
    p["scrypt_p"] = pin->kdf.p;
    p["retries"] = pin->retries;
    p["length"] = pin->length;
    doc["pin"] = std::move(p);
  }
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

// The optional "pin" object (CTAP clientPIN state, authenticator::PinRecord).
Result<std::optional<authenticator::PinRecord>> pin_from_json(const json& doc) {
  auto it = doc.find("pin");
  if (it == doc.end()) return std::optional<authenticator::PinRecord>{};
  const json& p = *it;
  if (!p.is_object()) return make_error(Errc::store_corrupt, "pin is not an object");
  authenticator::PinRecord r;
  HG_TRY(r.salt, b64_field(p, "salt"));
  HG_TRY(r.verifier, b64_field(p, "verifier"));
  if (r.salt.size() != 16 || r.verifier.size() != 32) return make_error(Errc::store_corrupt, "pin salt or verifier size");
  HG_TRY(uint64_t n, uint_field(p, "scrypt_log2_n", 30));
  HG_TRY(uint64_t rr, uint_field(p, "scrypt_r", 64));
  HG_TRY(uint64_t pp, uint_field(p, "scrypt_p", 16));
  if (n < 1 || rr < 1 || pp < 1) return make_error(Errc::store_corrupt, "pin scrypt parameters");
  r.kdf = crypto::ScryptParams{static_cast<uint32_t>(n), static_cast<uint32_t>(rr), static_cast<uint32_t>(pp)};
  HG_TRY(uint64_t retries, uint_field(p, "retries", 8));
  r.retries = static_cast<uint8_t>(retries);
  HG_TRY(uint64_t length, uint_field(p, "length", 63));
  r.length = static_cast<uint32_t>(length);
  return std::optional<authenticator::PinRecord>(std::move(r));
}

// The "credentials" array of `doc` (the file, or a sealed file's opened contents).
Result<std::vector<CredentialRecord>> records_from_json(const json& doc) {
  if (!doc.is_object()) return make_error(Errc::store_corrupt, "not a JSON object");
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


Result<int64_t> format_version(const json& doc) {
  if (!doc.is_object()) return make_error(Errc::store_corrupt, "not a JSON object");
  auto ver = doc.find("version");
  if (ver == doc.end() || !ver->is_number_integer()) return make_error(Errc::store_corrupt, "missing format version");
  const int64_t v = ver->get<int64_t>();
  if (v != kFormatVersion && v != kSealedFormatVersion) return make_error(Errc::store_corrupt, "unknown format version");
  return v;
}

Result<SealHeader> seal_header_from_json(const json& doc) {
  auto it = doc.find("seal");
  if (it == doc.end() || !it->is_object()) return make_error(Errc::store_corrupt, "missing seal");
  const json& h = *it;
  auto kdf = h.find("kdf");
  if (kdf == h.end() || !kdf->is_string()) return make_error(Errc::store_corrupt, "missing seal.kdf");
  SealHeader out;
  if (kdf->get_ref<const std::string&>() == "tpm2") {
    out.kind = SealKind::tpm2;
    HG_TRY(out.tpm_public, b64_field(h, "public"));
    HG_TRY(out.tpm_private, b64_field(h, "private"));
    // A TPM2B_PUBLIC / TPM2B_PRIVATE: a 2-byte size and at most a few hundred bytes (the TPM checks the rest).
    if (out.tpm_public.size() < 2 || out.tpm_public.size() > 1024 || out.tpm_private.size() < 2 ||
        out.tpm_private.size() > 1024)
      return make_error(Errc::store_corrupt, "seal.public or seal.private size");
    return out;
  }
  if (kdf->get_ref<const std::string&>() != "scrypt")
    return make_error(Errc::store_corrupt, "seal.kdf is neither scrypt nor tpm2");
  HG_TRY(out.salt, b64_field(h, "salt"));
  if (out.salt.size() < 16 || out.salt.size() > 64) return make_error(Errc::store_corrupt, "seal.salt size");
  HG_TRY(uint64_t n, uint_field(h, "log2_n", 22));  // at most 4 GiB with r = 8: a damaged file cannot ask for more
  HG_TRY(uint64_t r, uint_field(h, "r", 32));
  HG_TRY(uint64_t p, uint_field(h, "p", 16));
  if (n < 1 || r < 1 || p < 1 || (uint64_t{128} * r << n) > (uint64_t{1} << 32))
    return make_error(Errc::store_corrupt, "seal scrypt parameters out of range");
  out.kdf = crypto::ScryptParams{static_cast<uint32_t>(n), static_cast<uint32_t>(r), static_cast<uint32_t>(p)};
  return out;
}

// The associated data of the sealed contents: the format and its KDF parameters (or the TPM's
// blobs), so that none of them can be changed without the file failing to open.
std::string seal_ad(const SealHeader& h) {
  if (h.kind == SealKind::tpm2)
    return "hybridgate credential store v2 tpm2 " + base64url_encode(h.tpm_public) + " " +
           base64url_encode(h.tpm_private);
  return "hybridgate credential store v2 scrypt " + base64url_encode(h.salt) + " " + std::to_string(h.kdf.log2_n) +
         " " + std::to_string(h.kdf.r) + " " + std::to_string(h.kdf.p);
}

// The records in a store file's text (store.corrupt when it is not one; store.sealed when it is
// sealed and there is no key; store.passphrase when the key does not open it). Wipes the text.
Result<StoreContents> parse_store(const std::filesystem::path& path, std::string& text, const SealKey* key) {
  auto r = parse_store_text(text, key);
  wipe_string(text);
  if (!r && r.error().code == Errc::store_corrupt) return corrupt(path, r.error().detail);
  return r;
}

json contents_doc(const StoreContents& contents) {
  json doc = to_json(contents.records, std::nullopt);
  doc.erase("version");
  return doc;
}

Result<std::string> serialise_store(const StoreContents& contents, const SealKey* key) {
  try {
    if (!contents.sealed) {
      json doc = to_json(contents.records, contents.pin);
      std::string text = doc.dump(2) + "\n";  // strict UTF-8; the CBOR decoder already rejects invalid text
      wipe_private_keys(doc);
      return text;
    }
    if (!key) return make_error(Errc::store_sealed, "cannot write a sealed store without its key");
    json inner = contents_doc(contents);
    std::string plain = inner.dump();
    wipe_private_keys(inner);
    const Bytes nonce = crypto::random_bytes(12);
    const std::string ad = seal_ad(key->header);
    Bytes sealed = crypto::aes256_gcm_seal(key->key.view(), nonce, as_bytes(ad), as_bytes(plain));
    wipe_string(plain);
    json doc = json::object();
    doc["version"] = kSealedFormatVersion;
    json h = json::object();
    if (key->header.kind == SealKind::tpm2) {
      h["kdf"] = "tpm2";
      h["public"] = base64url_encode(key->header.tpm_public);
      h["private"] = base64url_encode(key->header.tpm_private);
    } else {
      h["kdf"] = "scrypt";
      h["salt"] = base64url_encode(key->header.salt);
      h["log2_n"] = key->header.kdf.log2_n;
      h["r"] = key->header.kdf.r;
      h["p"] = key->header.kdf.p;
    }
    doc["seal"] = std::move(h);
    doc["nonce"] = base64url_encode(nonce);
    doc["sealed"] = base64url_encode(sealed);
    if (contents.pin) doc["pin"] = to_json({}, contents.pin)["pin"];
    return doc.dump(2) + "\n";
  } catch (const std::exception& e) {
    return make_error(Errc::io, std::string("cannot serialise the credential store: ") + e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------- the file format's reader

Result<std::optional<SealHeader>> parse_seal_header(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return make_error(Errc::store_corrupt, "not valid JSON");
  HG_TRY(int64_t v, format_version(doc));
  std::optional<SealHeader> out;
  if (v == kSealedFormatVersion) {
    HG_TRY(SealHeader h, seal_header_from_json(doc));
    out = std::move(h);
  }
  wipe_private_keys(doc);
  return out;
}

Result<SealKey> derive_seal_key(const SealHeader& header, const SecretBytes& passphrase) {
  if (header.kind != SealKind::scrypt)
    return make_error(Errc::store_sealed, "the store is sealed by a TPM, not with a passphrase");
  auto k = crypto::scrypt(passphrase.view(), header.salt, header.kdf, 32);
  if (!k) return make_error(Errc::crypto, "scrypt: " + k.error().detail);
  return SealKey{header, std::move(*k)};
}

Result<StoreContents> parse_store_text(std::string_view text, const SealKey* key) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return make_error(Errc::store_corrupt, "not valid JSON");
  struct Wipe {
    json& d;
    ~Wipe() { wipe_private_keys(d); }
  } wipe_doc{doc};
  HG_TRY(int64_t version, format_version(doc));
  StoreContents out;
  HG_TRY(out.pin, pin_from_json(doc));
  if (version == kFormatVersion) {
    HG_TRY(out.records, records_from_json(doc));
    return out;
  }
  out.sealed = true;
  HG_TRY(SealHeader header, seal_header_from_json(doc));
  HG_TRY(Bytes nonce, b64_field(doc, "nonce"));
  HG_TRY(Bytes sealed, b64_field(doc, "sealed"));
  if (nonce.size() != 12) return make_error(Errc::store_corrupt, "nonce is not 12 bytes");
  if (sealed.size() < 16) return make_error(Errc::store_corrupt, "sealed contents shorter than their tag");
  if (!key) return make_error(Errc::store_sealed, "the credential store is sealed");
  const bool tpm = header.kind == SealKind::tpm2;
  if (key->header.kind != header.kind || key->header.salt != header.salt ||
      key->header.kdf.log2_n != header.kdf.log2_n || key->header.kdf.r != header.kdf.r ||
      key->header.kdf.p != header.kdf.p || key->header.tpm_public != header.tpm_public ||
      key->header.tpm_private != header.tpm_private)
    return make_error(tpm ? Errc::store_sealed : Errc::store_passphrase,
                      "the file was sealed with another key (re-sealed by another program?)");
  const std::string ad = seal_ad(header);
  auto plain = crypto::aes256_gcm_open(key->key.view(), nonce, as_bytes(ad), sealed);
  if (!plain)
    return tpm ? make_error(Errc::store_sealed, "the key the TPM unsealed does not open the sealed credentials")
               : make_error(Errc::store_passphrase, "the passphrase does not open the sealed credentials");
  SecretBytes secret_plain(std::move(*plain));
  const auto pv = secret_plain.view();
  json inner = json::parse(pv.begin(), pv.end(), nullptr, /*allow_exceptions=*/false);
  if (inner.is_discarded()) return make_error(Errc::store_corrupt, "the sealed contents are not JSON");
  auto records = records_from_json(inner);
  wipe_private_keys(inner);
  if (!records) return records.error();
  out.records = std::move(*records);
  return out;
}

Result<std::string> serialise_store_text(const StoreContents& contents, const SealKey* key) {
  return serialise_store(contents, key);
}

// ---------------------------------------------------------------- FileCredentialStore

Result<std::unique_ptr<FileCredentialStore>> FileCredentialStore::open(const std::filesystem::path& path,
                                                                       const SecretBytes* passphrase, TpmSealer* tpm) {
  HG_TRY(auto existing, read_private_file(path));
  if (!existing) {
    HG_CHECK(create_private_file(path, to_json({}, std::nullopt).dump(2) + "\n"));  // no keys in an empty store
    existing = to_json({}, std::nullopt).dump(2) + "\n";
  }
  std::unique_ptr<FileCredentialStore> store(new FileCredentialStore(path));
  auto header = parse_seal_header(*existing);
  wipe_string(*existing);
  if (!header) return corrupt(path, header.error().detail);
  if (*header && (*header)->kind == SealKind::tpm2) {
    if (!tpm)
      return make_error(Errc::store_sealed, path.string() + " is sealed by a TPM, which only `hybridgate phone` built "
                                            "with tpm2-tss opens; nothing was changed");
    auto key = tpm->unseal(**header);
    if (!key) return make_error(key.error().code, path.string() + ": " + key.error().detail);
    store->key_ = std::move(*key);
  } else if (*header) {
    if (!passphrase) return make_error(Errc::store_sealed, path.string());
    HG_TRY(SealKey key, derive_seal_key(**header, *passphrase));
    store->key_ = std::move(key);
  }
  HG_CHECK(store->load());  // also refuses a damaged store (or a wrong passphrase) before anything else happens
  return store;
}

Status FileCredentialStore::seal(const std::filesystem::path& path, const SecretBytes& passphrase,
                                 const crypto::ScryptParams& kdf) {
  if (passphrase.size() == 0) return make_error(Errc::invalid_argument, "an empty passphrase seals nothing");
  SealHeader header;
  header.salt = crypto::random_bytes(16);
  header.kdf = kdf;
  HG_TRY(SealKey key, derive_seal_key(header, passphrase));
  return seal_with(path, key);
}

Status FileCredentialStore::seal_tpm(const std::filesystem::path& path, TpmSealer& tpm) {
  // Refuse a sealed store before the TPM is asked for anything (seal_with checks again, locked).
  HG_TRY(auto kind, seal_kind(path));
  if (kind) return make_error(Errc::store_sealed, path.string() + " is sealed already; nothing was changed");
  HG_TRY(SealKey key, tpm.seal_new_key());
  if (key.header.kind != SealKind::tpm2 || key.key.size() != 32)
    return make_error(Errc::invalid_argument, "the TPM sealer returned no TPM-sealed 32-byte key");
  return seal_with(path, key);
}

Result<std::optional<SealKind>> FileCredentialStore::seal_kind(const std::filesystem::path& path) {
  HG_TRY(auto text, read_private_file(path));
  if (!text) return std::optional<SealKind>{};
  auto header = parse_seal_header(*text);
  wipe_string(*text);
  if (!header) return corrupt(path, header.error().detail);
  if (!*header) return std::optional<SealKind>{};
  return std::optional<SealKind>((*header)->kind);
}

Status FileCredentialStore::seal_with(const std::filesystem::path& path, const SealKey& key) {
  HG_TRY(auto existing, read_private_file(path));
  if (!existing) HG_CHECK(create_private_file(path, to_json({}, std::nullopt).dump(2) + "\n"));
  else wipe_string(*existing);
  size_t kept = 0;
  HG_CHECK(update_private_file(path, [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
    if (!current) return make_error(Errc::io, path.string() + " disappeared");
    std::string text = *current;
    HG_TRY(auto contents, parse_store(path, text, nullptr));  // store.sealed when it is sealed already
    contents.sealed = true;
    HG_TRY(std::string next, serialise_store(contents, &key));
    // Read back before anything replaces the file: every credential must come out as it went in.
    auto check = parse_store_text(next, &key);
    if (!check || check->records.size() != contents.records.size())
      return make_error(Errc::io, "the sealed store did not read back; nothing was changed");
    for (size_t i = 0; i < contents.records.size(); ++i)
      if (!ct_equal(check->records[i].private_key.view(), contents.records[i].private_key.view()) ||
          check->records[i].credential_id != contents.records[i].credential_id)
        return make_error(Errc::io, "the sealed store did not read back; nothing was changed");
    kept = contents.records.size();
    return std::optional<std::string>(std::move(next));
  }));
  (void)kept;
  return ok_status();
}

Status FileCredentialStore::load() {
  HG_TRY(auto text, read_private_file(path_));
  if (!text) return make_error(Errc::io, path_.string() + " disappeared");
  HG_TRY(auto contents, parse_store(path_, *text, key_ ? &*key_ : nullptr));
  records_ = std::move(contents.records);
  pin_ = std::move(contents.pin);
  sealed_ = contents.sealed;
  return ok_status();
}

Status FileCredentialStore::change(const std::function<Status(std::vector<CredentialRecord>&)>& edit) {
  return change_all([&](std::vector<CredentialRecord>& records, std::optional<authenticator::PinRecord>&) {
    return edit(records);
  });
}

Status FileCredentialStore::change_all(
    const std::function<Status(std::vector<CredentialRecord>&, std::optional<authenticator::PinRecord>&)>& edit) {
  StoreContents written;
  const SealKey* key = key_ ? &*key_ : nullptr;
  Status st = update_private_file(path_, [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
    if (!current) return make_error(Errc::io, path_.string() + " disappeared");
    std::string text = *current;
    HG_TRY(auto contents, parse_store(path_, text, key));
    HG_CHECK(edit(contents.records, contents.pin));
    HG_TRY(std::string next, serialise_store(contents, key));  // in the format the file has now
    written = std::move(contents);
    return std::optional<std::string>(std::move(next));
  });
  if (!st) return st;
  records_ = std::move(written.records);
  pin_ = std::move(written.pin);
  sealed_ = written.sealed;
  return ok_status();
}

Result<std::optional<authenticator::PinRecord>> FileCredentialStore::pin() {
  HG_CHECK(load());
  return pin_;
}

Status FileCredentialStore::set_pin(const authenticator::PinRecord& record) {
  return change_all([&](std::vector<CredentialRecord>&, std::optional<authenticator::PinRecord>& pin) -> Status {
    pin = record;
    return ok_status();
  });
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
