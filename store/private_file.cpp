// SPDX-License-Identifier: Apache-2.0
#include "store/private_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hg::store {
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

// The file must be a regular file of ours (or of `owner`, or root's when an owner is named) that
// nobody else can read or write.
Status check_permissions(int fd, const std::filesystem::path& p, FileOwner owner) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(Errc::io, errno_text("cannot stat", p));
  if (!S_ISREG(st.st_mode)) return make_error(Errc::store_corrupt, p.string() + " is not a regular file");
  const bool owned = owner ? (st.st_uid == *owner || st.st_uid == 0) : st.st_uid == ::geteuid();
  if (!owned) return make_error(Errc::store_permissions, p.string() + " belongs to another user");
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

Result<std::optional<std::string>> read_private_file(const std::filesystem::path& path, FileOwner owner) {
  // O_NONBLOCK: opening a FIFO planted at the path must not wait for a writer (it is then refused
  // as not a regular file).
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return make_error(Errc::io, errno_text("cannot open", path));
  }
  HG_CHECK(check_permissions(fd.get(), path, owner));
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

Result<FileLock> FileLock::acquire(const std::filesystem::path& file, std::chrono::milliseconds timeout) {
  const std::filesystem::path lock_path = file.string() + ".lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) return make_error(Errc::io, errno_text("cannot open the lock file", lock_path));
  FileLock lock(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return make_error(Errc::store_corrupt, lock_path.string() + " is not a regular file");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return make_error(Errc::io, errno_text("cannot lock", lock_path));
    if (std::chrono::steady_clock::now() >= deadline)
      return make_error(Errc::store_locked, file.string() + " is locked by another process (waited " +
                                      std::to_string(timeout.count() / 1000) + " s)");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return lock;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Status update_private_file(const std::filesystem::path& path, const FileChange& change, FileOwner owner) {
  HG_TRY(FileLock lock, FileLock::acquire(path));
  HG_TRY(auto current, read_private_file(path, owner));
  auto next = change(current);
  if (current) wipe_string(*current);
  if (!next) return next.error();
  if (!*next) return ok_status();
  auto st = write_private_file(path, **next);
  wipe_string(**next);
  return st;
}

}  // namespace hg::store
