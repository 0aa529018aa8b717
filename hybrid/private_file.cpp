// SPDX-License-Identifier: Apache-2.0
#include "hybrid/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hg::hybrid {
namespace {

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

std::filesystem::path dir_of(const std::filesystem::path& p) {
  auto d = p.parent_path();
  return d.empty() ? std::filesystem::path(".") : d;
}

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
  if (st.st_uid != ::geteuid()) return make_error(Errc::store_permissions, p.string() + " belongs to another user");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(Errc::store_permissions, p.string() + " has mode " + mode + "; run: chmod 600 " + p.string());
  }
  if (st.st_size > kMaxPrivateFileSize) return make_error(Errc::store_corrupt, p.string() + " is too large");
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
    if (data.size() > static_cast<size_t>(kMaxPrivateFileSize)) {
      secure_wipe(buf, sizeof buf);
      wipe_string(data);
      return make_error(Errc::store_corrupt, p.string() + " is too large");
    }
  }
  secure_wipe(buf, sizeof buf);
  return data;
}

}  // namespace

void wipe_string(std::string& s) noexcept {
  if (!s.empty()) secure_wipe(s.data(), s.size());
}

Result<std::optional<std::string>> read_private_file(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return make_error(Errc::io, errno_text("cannot open", path));
  }
  HG_CHECK(check_permissions(fd.get(), path));
  HG_TRY(std::string text, read_all(fd.get(), path));
  return std::optional<std::string>(std::move(text));
}

Status create_private_file(const std::filesystem::path& path, const std::string& text) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    if (errno == EEXIST) return ok_status();
    return make_error(Errc::io, errno_text("cannot create", path));
  }
  if (::fchmod(fd.get(), 0600) != 0) return make_error(Errc::io, errno_text("cannot chmod", path));
  HG_CHECK(write_all(fd.get(), text, path));
  if (::fsync(fd.get()) != 0) return make_error(Errc::io, errno_text("cannot sync", path));
  if (fd.reset() != 0) return make_error(Errc::io, errno_text("cannot close", path));
  return fsync_dir(dir_of(path));
}

Status write_private_file(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path dir = dir_of(path);
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  int raw = ::mkstemp(tmpl.data());  // creates the file with mode 0600
  if (raw < 0) return make_error(Errc::io, errno_text("cannot create a temporary file in", dir));
  Fd fd(raw);
  const std::filesystem::path tmp(tmpl);
  auto fail = [&](Error e) {
    fd.reset();
    ::unlink(tmp.c_str());
    return e;
  };
  if (auto w = write_all(fd.get(), text, tmp); !w) return fail(std::move(w).error());
  if (::fchmod(fd.get(), 0600) != 0) return fail(make_error(Errc::io, errno_text("cannot chmod", tmp)));
  if (::fsync(fd.get()) != 0) return fail(make_error(Errc::io, errno_text("cannot sync", tmp)));
  if (fd.reset() != 0) return fail(make_error(Errc::io, errno_text("cannot close", tmp)));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(make_error(Errc::io, errno_text("cannot replace", path)));
  return fsync_dir(dir);  // the rename is durable only once the directory entry is on disk
}

}  // namespace hg::hybrid
