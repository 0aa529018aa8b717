// SPDX-License-Identifier: Apache-2.0
#include "store/links.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "proto/crypto.hpp"
#include "store/private_file.hpp"

namespace hg::store {
namespace {

using json = nlohmann::json;

Error corrupt(const std::filesystem::path& p, const std::string& why) {
  return make_error(Errc::store_corrupt, p.string() + ": " + why);
}

Result<std::string> str(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return make_error(Errc::store_corrupt, std::string("missing ") + key);
  return j[key].get<std::string>();
}

template <size_t N>
Result<std::array<uint8_t, N>> hex_field(const json& j, const char* key) {
  HG_TRY(std::string s, str(j, key));
  auto v = hex_decode_fixed<N>(s);
  if (!v) return make_error(Errc::store_corrupt, std::string("bad ") + key);
  return *v;
}

Result<Bytes> b64_field(const json& j, const char* key) {
  HG_TRY(std::string s, str(j, key));
  auto v = base64url_decode(s);
  if (!v) return make_error(Errc::store_corrupt, std::string("bad ") + key);
  return std::move(v).value();
}

json link_to_json(const StoredLink& l) {
  return json{{"name", l.name},
              {"contact_id", base64url_encode(l.link.contact_id)},
              {"pairing_id", hex_encode(l.link.pairing_id)},
              {"link_secret", base64url_encode(l.link.link_secret.view())},
              {"phone_public_key", hex_encode(l.link.phone_public_key)},
              {"domain_id", l.link.domain_id},
              {"tunnel_url", l.tunnel_url},
              {"created", l.created}};
}

Result<StoredLink> link_from_json(const json& j) {
  if (!j.is_object()) return make_error(Errc::store_corrupt, "link is not an object");
  StoredLink l;
  HG_TRY(l.name, str(j, "name"));
  HG_TRY(l.link.contact_id, b64_field(j, "contact_id"));
  HG_TRY(l.link.pairing_id, hex_field<8>(j, "pairing_id"));
  HG_TRY(Bytes secret, b64_field(j, "link_secret"));
  if (secret.size() != 32) return make_error(Errc::store_corrupt, "link secret must be 32 bytes");
  l.link.link_secret = SecretBytes(std::move(secret));
  HG_TRY(l.link.phone_public_key, hex_field<65>(j, "phone_public_key"));
  if (!j.contains("domain_id") || !j["domain_id"].is_number_unsigned() || j["domain_id"].get<uint64_t>() > 0xffff)
    return make_error(Errc::store_corrupt, "bad domain_id");
  l.link.domain_id = uint16_t(j["domain_id"].get<uint64_t>());
  HG_TRY(l.tunnel_url, str(j, "tunnel_url"));
  if (j.contains("created") && j["created"].is_number_unsigned()) l.created = j["created"].get<uint64_t>();
  return l;
}

}  // namespace

namespace {
// The links in a links file's text (store.corrupt when it is not one). Wipes the text.
Result<std::vector<StoredLink>> parse_links(const std::filesystem::path& path, std::string& text) {
  json doc = json::parse(text, nullptr, false);
  wipe_string(text);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("links") || !doc["links"].is_array())
    return corrupt(path, "not a hybridgate links file");
  std::vector<StoredLink> links;
  for (const auto& j : doc["links"]) {
    auto l = link_from_json(j);
    if (!l) return corrupt(path, l.error().detail);
    links.push_back(std::move(*l));
  }
  return links;
}
}  // namespace

Result<LinkStore> LinkStore::open(const std::filesystem::path& path) {
  LinkStore s;
  s.path_ = path;
  HG_TRY(auto text, read_private_file(path));
  if (text) {
    HG_TRY(s.links_, parse_links(path, *text));
  }
  return s;
}

const StoredLink* LinkStore::find(const std::string& name) const {
  for (const auto& l : links_)
    if (l.name == name) return &l;
  return nullptr;
}

Status LinkStore::change(const std::function<bool(std::vector<StoredLink>&)>& edit) {
  std::vector<StoredLink> written;
  bool changed = false;
  Status st = update_private_file(path_, [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
    std::vector<StoredLink> links;
    if (current) {
      std::string text = *current;
      HG_TRY(links, parse_links(path_, text));
    }
    changed = edit(links);
    written = links;
    if (!changed) return std::optional<std::string>{};
    json arr = json::array();
    for (const auto& l : links) arr.push_back(link_to_json(l));
    return std::optional<std::string>(json{{"version", 1}, {"links", arr}}.dump(2) + "\n");
  });
  if (!st) return st;
  links_ = std::move(written);
  return ok_status();
}

Status LinkStore::add(StoredLink link) {
  return change([&](std::vector<StoredLink>& links) {
    std::erase_if(links, [&](const StoredLink& l) {
      return l.name == link.name || l.link.phone_public_key == link.link.phone_public_key;
    });
    links.push_back(link);
    return true;
  });
}

Result<bool> LinkStore::remove(const std::string& name) {
  bool removed = false;
  HG_CHECK(change([&](std::vector<StoredLink>& links) {
    removed = std::erase_if(links, [&](const StoredLink& l) { return l.name == name; }) > 0;
    return removed;
  }));
  return removed;
}

Result<std::filesystem::path> default_links_path() {
  std::filesystem::path base;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = std::filesystem::path(h) / ".local" / "share";
  } else {
    return make_error(Errc::io, "neither XDG_DATA_HOME nor HOME is set; use --links FILE");
  }
  std::filesystem::path dir = base / "hybridgate";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(Errc::io, "cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return dir / "links.json";
}

namespace {
Result<PhoneLinkState> parse_phone_state(const std::filesystem::path& path, std::string& text) {
  json doc = json::parse(text, nullptr, false);
  wipe_string(text);
  if (doc.is_discarded() || !doc.is_object()) return corrupt(path, "not a hybridgate phone link state");
  PhoneLinkState s;
  auto root = b64_field(doc, "root_secret");
  if (!root || root->size() != 32) return corrupt(path, "bad root_secret");
  s.root_secret = SecretBytes(std::move(root).value());
  auto token = str(doc, "contact_token");
  if (!token || token->size() != 64 || !hex_decode(*token)) return corrupt(path, "bad contact_token");
  s.token_hex = *token;
  if (doc.contains("contact_id") && !doc["contact_id"].is_null()) {
    auto id = b64_field(doc, "contact_id");
    if (!id || id->empty()) return corrupt(path, "bad contact_id");
    s.contact_id = std::move(id).value();
  }
  if (doc.contains("tunnel_url") && doc["tunnel_url"].is_string()) s.tunnel_url = doc["tunnel_url"].get<std::string>();
  return s;
}

std::string phone_state_text(const PhoneLinkState& s) {
  json doc{{"version", 1},
           {"root_secret", base64url_encode(s.root_secret.view())},
           {"contact_token", s.token_hex},
           {"contact_id", s.contact_id ? json(base64url_encode(*s.contact_id)) : json(nullptr)},
           {"tunnel_url", s.tunnel_url}};
  return doc.dump(2) + "\n";
}
}  // namespace

Status update_phone_state(const std::filesystem::path& path, const std::function<Status(PhoneLinkState&)>& edit) {
  return update_private_file(path, [&](const std::optional<std::string>& current) -> Result<std::optional<std::string>> {
    PhoneLinkState state;
    if (current) {
      std::string text = *current;
      HG_TRY(state, parse_phone_state(path, text));
    } else {
      // The first use: a fresh root secret and token. Under the lock, so two processes starting
      // together end up with one of them, never both.
      state.root_secret = SecretBytes(crypto::random_bytes(32));
      state.token_hex = hex_encode(crypto::random_bytes(32));
    }
    HG_CHECK(edit(state));
    return std::optional<std::string>(phone_state_text(state));
  });
}

}  // namespace hg::store
