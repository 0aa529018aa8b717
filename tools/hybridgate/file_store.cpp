#include "tools/hybridgate/file_store.hpp"

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

namespace hg::tools {

namespace {

using authenticator::CredentialRecord;
using json = nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr off_t kMaxFileSize = 16 << 20;  // refuse absurd files instead of reading them whole

std::string errno_text(const std::string& what, const std::filesystem::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int reset() {
    int r = 0;
    if (fd_ >= 0) r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

void wipe_string(std::string& s) noexcept {
  if (!s.empty()) secure_wipe(s.data(), s.size());
}

std::filesystem::path dir_of(const std::filesystem::path& p) {
  auto d = p.parent_path();
  return d.empty() ? std::filesystem::path(".") : d;
}

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

// ---------------------------------------------------------------- file helpers

Status write_all(int fd, const std::string& data, const std::filesystem::path& p) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(Errc::io, errno_text("cannot write", p));
    }
    off += static_cast<size_t>(n);
  }
  return ok_status();
}

Status fsync_dir(const std::filesystem::path& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid()) return make_error(Errc::io, errno_text("cannot open directory", dir));
  if (::fsync(d.get()) != 0) return make_error(Errc::io, errno_text("cannot sync directory", dir));
  return ok_status();
}

// The file must be a regular file of ours that nobody else can read or write.
Status check_permissions(int fd, const std::filesystem::path& p) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(Errc::io, errno_text("cannot stat", p));
  if (!S_ISREG(st.st_mode)) return make_error(Errc::store_corrupt, p.string() + " is not a regular file");
  if (st.st_uid != ::geteuid())
    return make_error(Errc::store_permissions, p.string() + " belongs to another user");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(Errc::store_permissions,
                      p.string() + " has mode " + mode + "; run: chmod 600 " + p.string());
  }
  if (st.st_size > kMaxFileSize) return make_error(Errc::store_corrupt, p.string() + " is too large");
  return ok_status();
}

Result<std::string> read_all(int fd, const std::filesystem::path& p) {
  std::string data;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      secure_wipe(buf, sizeof buf);
      wipe_string(data);
      return make_error(Errc::io, errno_text("cannot read", p));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > static_cast<size_t>(kMaxFileSize)) {
      secure_wipe(buf, sizeof buf);
      wipe_string(data);
      return make_error(Errc::store_corrupt, p.string() + " is too large");
    }
  }
  secure_wipe(buf, sizeof buf);
  return data;
}

// Creates a new empty store file with O_EXCL and mode 0600. EEXIST is reported as such.
Status create_empty(const std::filesystem::path& p) {
  Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return make_error(Errc::io, errno_text("cannot create", p));
  if (::fchmod(fd.get(), 0600) != 0) return make_error(Errc::io, errno_text("cannot chmod", p));
  HG_CHECK(write_all(fd.get(), to_json({}).dump(2) + "\n", p));  // no keys in an empty store
  if (::fsync(fd.get()) != 0) return make_error(Errc::io, errno_text("cannot sync", p));
  if (fd.reset() != 0) return make_error(Errc::io, errno_text("cannot close", p));
  return fsync_dir(dir_of(p));
}

}  // namespace

// ---------------------------------------------------------------- FileCredentialStore

Result<std::unique_ptr<FileCredentialStore>> FileCredentialStore::open(const std::filesystem::path& path) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (raw < 0 && errno == ENOENT) {
    auto created = create_empty(path);
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    // Another process may have created it meanwhile (EEXIST); otherwise report why we could not.
    if (raw < 0 && !created) return std::move(created).error();
  }
  Fd fd(raw);
  if (!fd.valid()) return make_error(Errc::io, errno_text("cannot open", path));
  HG_CHECK(check_permissions(fd.get(), path));
  HG_TRY(std::string text, read_all(fd.get(), path));

  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  wipe_string(text);
  if (doc.is_discarded()) return corrupt(path, "not valid JSON");
  auto records = records_from_json(doc);
  wipe_private_keys(doc);
  if (!records) return corrupt(path, records.error().detail);

  std::unique_ptr<FileCredentialStore> store(new FileCredentialStore(path));
  store->records_ = std::move(*records);
  return store;
}

Status FileCredentialStore::commit(std::vector<CredentialRecord> records) {
  std::string text;
  try {
    json doc = to_json(records);
    text = doc.dump(2) + "\n";  // strict UTF-8; the CBOR decoder already rejects invalid text
    wipe_private_keys(doc);
  } catch (const std::exception& e) {
    return make_error(Errc::io, std::string("cannot serialise the credential store: ") + e.what());
  }

  const std::filesystem::path dir = dir_of(path_);
  std::string tmpl = (dir / ("." + path_.filename().string() + ".tmp.XXXXXX")).string();
  int raw = ::mkstemp(tmpl.data());  // creates the file with mode 0600
  if (raw < 0) {
    wipe_string(text);
    return make_error(Errc::io, errno_text("cannot create a temporary file in", dir));
  }
  Fd fd(raw);
  const std::filesystem::path tmp(tmpl);
  auto fail = [&](Error e) {
    fd.reset();
    ::unlink(tmp.c_str());
    return e;
  };

  Status written = write_all(fd.get(), text, tmp);
  wipe_string(text);
  if (!written) return fail(std::move(written).error());
  if (::fchmod(fd.get(), 0600) != 0) return fail(make_error(Errc::io, errno_text("cannot chmod", tmp)));
  if (::fsync(fd.get()) != 0) return fail(make_error(Errc::io, errno_text("cannot sync", tmp)));
  if (fd.reset() != 0) return fail(make_error(Errc::io, errno_text("cannot close", tmp)));
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return fail(make_error(Errc::io, errno_text("cannot replace", path_)));
  // The rename is durable only once the directory entry is on disk.
  HG_CHECK(fsync_dir(dir));
  records_ = std::move(records);
  return ok_status();
}

Result<std::vector<CredentialRecord>> FileCredentialStore::find_by_rp(const std::string& rp_id) {
  std::vector<CredentialRecord> out;
  for (const auto& r : records_)
    if (r.rp_id == rp_id) out.push_back(r);
  return out;
}

Result<std::optional<CredentialRecord>> FileCredentialStore::find_by_id(ByteView credential_id) {
  for (const auto& r : records_)
    if (same_id(r.credential_id, credential_id)) return std::optional<CredentialRecord>(r);
  return std::optional<CredentialRecord>{};
}

Status FileCredentialStore::add(const CredentialRecord& record) {
  for (const auto& r : records_)
    if (same_id(r.credential_id, record.credential_id))
      return make_error(Errc::invalid_argument, "credential ID already stored");
  auto next = records_;
  next.push_back(record);
  return commit(std::move(next));
}

Status FileCredentialStore::remove(ByteView credential_id) {
  auto next = records_;
  const auto before = next.size();
  std::erase_if(next, [&](const CredentialRecord& r) { return same_id(r.credential_id, credential_id); });
  if (next.size() == before) return ok_status();
  return commit(std::move(next));
}

Status FileCredentialStore::update_sign_count(ByteView credential_id, uint32_t sign_count) {
  auto next = records_;
  for (auto& r : next) {
    if (same_id(r.credential_id, credential_id)) {
      r.sign_count = sign_count;
      return commit(std::move(next));
    }
  }
  return make_error(Errc::invalid_argument, "unknown credential ID");
}

}  // namespace hg::tools
