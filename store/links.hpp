// SPDX-License-Identifier: Apache-2.0
// What linking leaves on disk (files mode 0600, replaced atomically; see private_file.hpp):
// - the desktop's links: one entry per remembered phone (contact ID, pairing ID, link secret,
//   phone identity key, tunnel domain ID, the tunnel URL override used, a name);
// - the phone's link state: its root secret, and its contact registration at a relay.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/crypto.hpp"
#include "proto/error.hpp"

namespace hg::store {

// A phone the desktop remembers (from verified linking info, docs/protocol.md §9).
struct Link {
  Bytes contact_id;
  std::array<uint8_t, 8> pairing_id{};
  SecretBytes link_secret;
  crypto::P256Uncompressed phone_public_key{};
  uint16_t domain_id = 0;
};


struct StoredLink {
  std::string name;
  Link link;
  std::string tunnel_url;  // the --tunnel-url of the QR sign-in that created it ("" = spec domains)
  uint64_t created = 0;
};

class LinkStore {
 public:
  // Opens (or, when absent, starts) the store. The file is created on the first save.
  static Result<LinkStore> open(const std::filesystem::path& path);
  const std::vector<StoredLink>& links() const { return links_; }
  const StoredLink* find(const std::string& name) const;
  // Adds a link; an existing link with the same name or the same phone key is replaced.
  // Changes re-read the file under its lock and replace it atomically (store/private_file.hpp),
  // so links other processes added meanwhile are kept.
  Status add(StoredLink link);
  // Removes the link with this name; false if there was none.
  Result<bool> remove(const std::string& name);

 private:
  // Under the file's lock: re-read, edit (returns whether anything changed), write.
  Status change(const std::function<bool(std::vector<StoredLink>&)>& edit);
  std::filesystem::path path_;
  std::vector<StoredLink> links_;
};

// $XDG_DATA_HOME/hybridgate/links.json, else ~/.local/share/hybridgate/links.json (directory 0700).
Result<std::filesystem::path> default_links_path();

struct PhoneLinkState {
  SecretBytes root_secret;           // 32 bytes
  std::optional<Bytes> contact_id;   // assigned by the relay
  std::string token_hex;             // 64 hex: proves the contact ID is ours to the relay
  std::string tunnel_url;            // the relay the contact is registered at
};
// Read-modify-write of the phone's state under the file's lock; a fresh root secret and token
// when the file does not exist yet (written only if `edit` succeeds). `edit` may take its time (a
// contact registration at the relay).
Status update_phone_state(const std::filesystem::path& path, const std::function<Status(PhoneLinkState&)>& edit);

}  // namespace hg::store
