// SPDX-License-Identifier: Apache-2.0
// The loopback radio (see loopback.hpp).
// Asio 1.74's scheduler trips g++ 12's -Wnull-dereference (see tunnel/server/session.hpp).
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include "ble/loopback.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>

namespace hg::ble::loopback {
namespace {

constexpr std::array<uint8_t, 4> kMagic = {'H', 'G', 'L', 'R'};
constexpr uint8_t kVersion = 1;
constexpr size_t kMaxTrackedFiles = 4096;  // bound on per-file repeat-suppression state
constexpr size_t kMaxNameLength = 128;

std::string errno_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// "adv-<pid>-<random>.bin" → pid; nullopt for any other name (temporary files start with '.').
std::optional<uint32_t> pid_from_name(const std::string& name) {
  static constexpr std::string_view prefix = "adv-", suffix = ".bin";
  if (name.size() > kMaxNameLength || name.size() < prefix.size() + suffix.size() + 3) return std::nullopt;
  if (name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return std::nullopt;
  uint64_t pid = 0;
  size_t i = prefix.size();
  size_t digits = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i, ++digits) {
    pid = pid * 10 + uint64_t(name[i] - '0');
    if (pid > 0xffffffffu) return std::nullopt;
  }
  if (digits == 0 || i >= name.size() || name[i] != '-') return std::nullopt;
  for (size_t j = i + 1; j < name.size() - suffix.size(); ++j) {
    const char c = name[j];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return uint32_t(pid);
}

bool process_gone(uint32_t pid) {
  if (pid == 0 || pid > 0x7fffffffu) return true;
  return ::kill(pid_t(pid), 0) == -1 && errno == ESRCH;
}

std::string random_hex(size_t n) {
  std::array<uint8_t, 16> b{};
  n = std::min(n, b.size());
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(b.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += size_t(r);
  }
  return hex_encode(ByteView(b.data(), n));
}

// ---------------------------------------------------------------------------------------------
// Scanner

class LoopScanner final : public Scanner {
 public:
  LoopScanner(boost::asio::io_context& io, std::string dir) : st_(std::make_shared<State>(io, std::move(dir))) {}
  ~LoopScanner() override { stop(); }

  Status start(std::function<void(const Advert&)> on_advert) override {
    if (st_->running) {
      st_->on_advert = std::move(on_advert);
      return ok_status();
    }
    HG_CHECK(prepare_dir(st_->dir));
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return make_error(Errc::ble_failed, errno_text("inotify_init1", errno));
    if (::inotify_add_watch(fd, st_->dir.c_str(), IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR) < 0) {
      int err = errno;
      ::close(fd);
      return make_error(Errc::ble_failed, errno_text("inotify_add_watch " + st_->dir, err));
    }
    st_->sd.emplace(st_->io, fd);
    st_->on_advert = std::move(on_advert);
    st_->running = true;
    st_->last.clear();
    std::weak_ptr<State> w = st_;
    // The initial directory scan runs on the io_context, never inside start().
    boost::asio::post(st_->io, [w] {
      if (auto s = w.lock(); s && s->running) s->scan_dir();
    });
    State::arm(st_);
    return ok_status();
  }

  void stop() override {
    st_->running = false;
    st_->on_advert = nullptr;
    if (st_->sd) {
      boost::system::error_code ec;
      st_->sd->close(ec);  // closes the inotify fd; a pending wait completes with operation_aborted
      st_->sd.reset();
    }
  }

 private:
  struct State {
    State(boost::asio::io_context& i, std::string d) : io(i), dir(std::move(d)) {}
    boost::asio::io_context& io;
    std::string dir;
    std::optional<boost::asio::posix::stream_descriptor> sd;
    std::function<void(const Advert&)> on_advert;
    std::map<std::string, Bytes> last;  // file name → last payload delivered (uuid byte + data)
    bool running = false;

    static void arm(const std::shared_ptr<State>& s) {
      if (!s->running || !s->sd) return;
      std::weak_ptr<State> w = s;
      s->sd->async_wait(boost::asio::posix::stream_descriptor::wait_read, [w](const boost::system::error_code& ec) {
        auto self = w.lock();
        if (!self || !self->running || ec) return;
        self->drain();
        arm(self);
      });
    }

    void drain() {
      alignas(inotify_event) std::array<char, 4096> buf{};
      for (int round = 0; round < 64 && running && sd; ++round) {
        ssize_t n = ::read(sd->native_handle(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // EAGAIN: drained
        size_t off = 0;
        while (off + sizeof(inotify_event) <= size_t(n) && running) {
          inotify_event ev;
          std::memcpy(&ev, buf.data() + off, sizeof ev);
          const size_t total = sizeof(inotify_event) + ev.len;
          if (off + total > size_t(n)) break;
          std::string name;
          if (ev.len > 0) {
            const char* p = buf.data() + off + sizeof(inotify_event);
            name.assign(p, strnlen(p, ev.len));
          }
          off += total;
          if (ev.mask & IN_Q_OVERFLOW) {
            scan_dir();
          } else if (ev.mask & (IN_DELETE | IN_MOVED_FROM)) {
            last.erase(name);
          } else if (ev.mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) {
            consider(name);
          }
        }
      }
    }

    void scan_dir() {
      DIR* d = ::opendir(dir.c_str());
      if (!d) return;
      std::vector<std::string> names;
      while (dirent* e = ::readdir(d)) {
        if (names.size() >= kMaxTrackedFiles) break;
        std::string n = e->d_name;
        if (pid_from_name(n)) names.push_back(std::move(n));
      }
      ::closedir(d);
      for (const auto& n : names) {
        if (!running) return;
        consider(n);
      }
    }

    void consider(const std::string& name) {
      auto name_pid = pid_from_name(name);
      if (!name_pid) return;
      const std::string path = dir + "/" + name;
      int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) return;  // gone already, or a symlink
      struct stat st {};
      std::array<uint8_t, kMaxFileSize + 1> buf{};
      ssize_t n = -1;
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 && size_t(st.st_size) <= kMaxFileSize) {
        do {
          n = ::read(fd, buf.data(), buf.size());
        } while (n < 0 && errno == EINTR);
      }
      ::close(fd);
      if (n < 0 || size_t(n) > kMaxFileSize) return;
      auto adv = parse_file(ByteView(buf.data(), size_t(n)));
      if (!adv || adv->pid != *name_pid) return;  // garbage: ignore
      if (process_gone(adv->pid)) {
        ::unlink(path.c_str());  // stale advert of a process that is gone
        last.erase(name);
        return;
      }
      Bytes key;
      key.reserve(adv->service_data.size() + 2);
      key.push_back(uint8_t(adv->uuid));
      key.push_back(uint8_t(adv->uuid >> 8));
      key.insert(key.end(), adv->service_data.begin(), adv->service_data.end());
      auto it = last.find(name);
      if (it != last.end()) {
        if (it->second == key) return;  // exact repeat
        it->second = std::move(key);
      } else {
        if (last.size() >= kMaxTrackedFiles) return;
        last.emplace(name, std::move(key));
      }
      if (!on_advert) return;
      auto cb = on_advert;  // the callback may stop or replace the scanner
      Advert a;
      a.uuid = adv->uuid;
      a.service_data = std::move(adv->service_data);
      a.device = name;
      cb(a);
    }
  };

  std::shared_ptr<State> st_;
};

// ---------------------------------------------------------------------------------------------
// Advertiser

class LoopAdvertiser final : public LoopbackAdvertiser {
 public:
  explicit LoopAdvertiser(std::string dir) : dir_(std::move(dir)) {}
  ~LoopAdvertiser() override { stop(); }

  Status start(ByteView service_data) override { return start_with_uuid(kFidoCableUuid, service_data); }

  Status start_with_uuid(uint16_t uuid, ByteView service_data) override {
    if (service_data.size() + kHeaderSize > kMaxFileSize)
      return make_error(Errc::invalid_argument, "advert service data too long for the loopback radio");
    HG_CHECK(prepare_dir(dir_));
    const uint32_t pid = uint32_t(::getpid());
    if (name_.empty()) name_ = "adv-" + std::to_string(pid) + "-" + random_hex(8) + ".bin";
    const Bytes file = encode_file(FileAdvert{uuid, pid, Bytes(service_data.begin(), service_data.end())});
    const std::string tmp = dir_ + "/.tmp-" + name_;
    ::unlink(tmp.c_str());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(Errc::ble_failed, errno_text("loopback radio: create " + tmp, errno));
    size_t off = 0;
    while (off < file.size()) {
      ssize_t w = ::write(fd, file.data() + off, file.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return make_error(Errc::ble_failed, errno_text("loopback radio: write " + tmp, err));
      }
      off += size_t(w);
    }
    ::close(fd);
    const std::string path = dir_ + "/" + name_;
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return make_error(Errc::ble_failed, errno_text("loopback radio: rename to " + path, err));
    }
    active_ = true;
    return ok_status();
  }

  void stop() override {
    if (!active_) return;
    active_ = false;
    ::unlink((dir_ + "/" + name_).c_str());
  }

  std::string file_path() const override { return name_.empty() ? std::string() : dir_ + "/" + name_; }

 private:
  std::string dir_;
  std::string name_;
  bool active_ = false;
};

}  // namespace

std::string resolve_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* e = std::getenv(kDirEnv); e && *e) return e;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x && x[0] == '/') return std::string(x) + "/hybridgate-radio";
  return "/tmp/hybridgate-radio-" + std::to_string(::getuid());
}

Status prepare_dir(const std::string& dir) {
  if (dir.empty()) return make_error(Errc::ble_failed, "loopback radio: empty directory name");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(Errc::ble_failed, errno_text("loopback radio: cannot create " + dir, errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return make_error(Errc::ble_failed, errno_text("loopback radio: " + dir, errno));
  if (!S_ISDIR(st.st_mode)) return make_error(Errc::ble_failed, "loopback radio: " + dir + " is not a directory");
  if (st.st_uid != ::geteuid())
    return make_error(Errc::ble_failed, "loopback radio: " + dir + " belongs to another user; refusing to use it");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return make_error(Errc::ble_failed, "loopback radio: " + dir + " is writable by other users; run 'chmod 700 " + dir + "'");
  return ok_status();
}

Bytes encode_file(const FileAdvert& a) {
  Bytes out(kMagic.begin(), kMagic.end());
  out.push_back(kVersion);
  out.push_back(0);
  out.push_back(uint8_t(a.uuid));
  out.push_back(uint8_t(a.uuid >> 8));
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(a.pid >> (8 * i)));
  const size_t len = std::min<size_t>(a.service_data.size(), 0xffff);
  out.push_back(uint8_t(len));
  out.push_back(uint8_t(len >> 8));
  out.insert(out.end(), a.service_data.begin(), a.service_data.begin() + std::ptrdiff_t(len));
  return out;
}

Result<FileAdvert> parse_file(ByteView f) {
  if (f.size() < kHeaderSize || f.size() > kMaxFileSize)
    return make_error(Errc::invalid_argument, "loopback advert: bad size");
  if (!std::equal(kMagic.begin(), kMagic.end(), f.begin())) return make_error(Errc::invalid_argument, "loopback advert: bad magic");
  if (f[4] != kVersion || f[5] != 0) return make_error(Errc::invalid_argument, "loopback advert: unknown version");
  FileAdvert a;
  a.uuid = uint16_t(f[6] | (f[7] << 8));
  a.pid = uint32_t(f[8]) | (uint32_t(f[9]) << 8) | (uint32_t(f[10]) << 16) | (uint32_t(f[11]) << 24);
  const size_t len = size_t(f[12]) | (size_t(f[13]) << 8);
  if (f.size() != kHeaderSize + len) return make_error(Errc::invalid_argument, "loopback advert: bad length");
  a.service_data.assign(f.begin() + kHeaderSize, f.end());
  return a;
}

Result<std::unique_ptr<Scanner>> make_scanner(boost::asio::io_context& io, const std::string& configured_dir) {
  std::string dir = resolve_dir(configured_dir);
  HG_CHECK(prepare_dir(dir));
  return std::unique_ptr<Scanner>(std::make_unique<LoopScanner>(io, std::move(dir)));
}

Result<std::unique_ptr<LoopbackAdvertiser>> make_advertiser(boost::asio::io_context& /*io*/, const std::string& configured_dir) {
  std::string dir = resolve_dir(configured_dir);
  HG_CHECK(prepare_dir(dir));
  return std::unique_ptr<LoopbackAdvertiser>(std::make_unique<LoopAdvertiser>(std::move(dir)));
}

}  // namespace hg::ble::loopback
