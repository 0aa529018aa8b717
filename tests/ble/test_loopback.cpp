// SPDX-License-Identifier: Apache-2.0
// The loopback radio: advertisers and scanners in one process (two io_contexts) and across a
// fork, rotation, removal, stale and garbage files, directory checks, and the automatic choice.
#pragma GCC diagnostic ignored "-Wnull-dereference"  // Asio 1.74 + g++ 12
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "ble/loopback.hpp"
#include "ble/radio.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using hg::Bytes;
using hg::ble::Advert;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hg-loopback-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl + "/radio";  // created by the radio itself
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(fs::path(path).parent_path(), ec);
  }
};

// Runs the io_context until pred() holds or the timeout passes (no sleeps as synchronisation).
template <typename Pred>
bool run_until(boost::asio::io_context& io, Pred pred, std::chrono::milliseconds timeout = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(20ms);
  }
  return true;
}
// Lets the io_context handle whatever is ready (used to check that nothing more arrives).
void settle(boost::asio::io_context& io, std::chrono::milliseconds d = 200ms) {
  if (io.stopped()) io.restart();
  io.run_for(d);
}

Bytes payload(uint8_t seed, size_t n = 20) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 7);
  return b;
}

void write_raw(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

struct Collector {
  std::vector<Advert> seen;
  std::function<void(const Advert&)> fn() {
    return [this](const Advert& a) { seen.push_back(a); };
  }
};

}  // namespace

TEST_CASE("loopback file format round trip and strict parse", "[loopback]") {
  hg::ble::loopback::FileAdvert a{0xFDE2, 1234, payload(1, 22)};
  auto f = hg::ble::loopback::encode_file(a);
  REQUIRE(f.size() == hg::ble::loopback::kHeaderSize + 22);
  auto p = hg::ble::loopback::parse_file(f);
  REQUIRE(p.ok());
  CHECK(p->uuid == 0xFDE2);
  CHECK(p->pid == 1234);
  CHECK(p->service_data == a.service_data);
  auto longer = f;
  longer.push_back(0);
  CHECK_FALSE(hg::ble::loopback::parse_file(longer).ok());
  auto shorter = f;
  shorter.pop_back();
  CHECK_FALSE(hg::ble::loopback::parse_file(shorter).ok());
  auto bad_magic = f;
  bad_magic[0] = 'X';
  CHECK_FALSE(hg::ble::loopback::parse_file(bad_magic).ok());
  CHECK_FALSE(hg::ble::loopback::parse_file(Bytes{}).ok());
  for (size_t n = 0; n < f.size(); ++n) CHECK_FALSE(hg::ble::loopback::parse_file(hg::ByteView(f.data(), n)).ok());
}

TEST_CASE("loopback advertiser first then scanner sees it", "[loopback]") {
  TempDir dir;
  boost::asio::io_context io_phone, io_desktop;
  auto adv = hg::ble::loopback::make_advertiser(io_phone, dir.path);
  REQUIRE(adv.ok());
  const Bytes data = payload(3);
  REQUIRE((*adv)->start(data).ok());
  REQUIRE(fs::exists((*adv)->file_path()));

  auto sc = hg::ble::loopback::make_scanner(io_desktop, dir.path);
  REQUIRE(sc.ok());
  Collector c;
  REQUIRE((*sc)->start(c.fn()).ok());
  CHECK(c.seen.empty());  // delivered on the io_context, never inside start()
  REQUIRE(run_until(io_desktop, [&] { return !c.seen.empty(); }));
  CHECK(c.seen[0].service_data == data);
  CHECK(c.seen[0].uuid == hg::ble::kFidoCableUuid);
  CHECK(c.seen[0].device == fs::path((*adv)->file_path()).filename().string());
  settle(io_desktop);
  CHECK(c.seen.size() == 1);
}

TEST_CASE("loopback scanner first then advertiser with rotation and repeats", "[loopback]") {
  TempDir dir;
  boost::asio::io_context io_phone, io_desktop;
  auto sc = hg::ble::loopback::make_scanner(io_desktop, dir.path);
  REQUIRE(sc.ok());
  Collector c;
  REQUIRE((*sc)->start(c.fn()).ok());
  settle(io_desktop, 50ms);
  CHECK(c.seen.empty());

  auto adv = hg::ble::loopback::make_advertiser(io_phone, dir.path);
  REQUIRE(adv.ok());
  const Bytes first = payload(10), second = payload(20);
  REQUIRE((*adv)->start(first).ok());
  REQUIRE(run_until(io_desktop, [&] { return c.seen.size() >= 1; }));
  CHECK(c.seen[0].service_data == first);

  // Exact repeat: suppressed.
  REQUIRE((*adv)->start(first).ok());
  settle(io_desktop);
  CHECK(c.seen.size() == 1);

  // Rotation: same file, new payload.
  REQUIRE((*adv)->start(second).ok());
  REQUIRE(run_until(io_desktop, [&] { return c.seen.size() >= 2; }));
  CHECK(c.seen[1].service_data == second);
  CHECK(c.seen[1].device == c.seen[0].device);

  // A Google-UUID advert from a second advertiser.
  auto adv2 = hg::ble::loopback::make_advertiser(io_phone, dir.path);
  REQUIRE(adv2.ok());
  REQUIRE((*adv2)->start_with_uuid(hg::ble::kGoogleCableUuid, first).ok());
  REQUIRE(run_until(io_desktop, [&] { return c.seen.size() >= 3; }));
  CHECK(c.seen[2].uuid == hg::ble::kGoogleCableUuid);
  CHECK(c.seen[2].device != c.seen[0].device);
}

TEST_CASE("loopback stop removes the advert and a restart is seen again", "[loopback]") {
  TempDir dir;
  boost::asio::io_context io;
  auto adv = hg::ble::loopback::make_advertiser(io, dir.path);
  REQUIRE(adv.ok());
  auto sc = hg::ble::loopback::make_scanner(io, dir.path);
  REQUIRE(sc.ok());
  Collector c;
  REQUIRE((*sc)->start(c.fn()).ok());
  const Bytes data = payload(5);
  REQUIRE((*adv)->start(data).ok());
  REQUIRE(run_until(io, [&] { return c.seen.size() == 1; }));
  const std::string file = (*adv)->file_path();
  (*adv)->stop();
  CHECK_FALSE(fs::exists(file));
  (*adv)->stop();  // twice is fine
  settle(io, 100ms);
  // The delete made the scanner forget the file: the same payload again is a new advert.
  REQUIRE((*adv)->start(data).ok());
  REQUIRE(run_until(io, [&] { return c.seen.size() == 2; }));

  // The destructor removes the file too.
  adv->reset();
  CHECK_FALSE(fs::exists(file));

  // A stopped scanner delivers nothing.
  (*sc)->stop();
  (*sc)->stop();
  auto adv3 = hg::ble::loopback::make_advertiser(io, dir.path);
  REQUIRE((*adv3)->start(payload(9)).ok());
  settle(io);
  CHECK(c.seen.size() == 2);
}

TEST_CASE("loopback stale advert of a dead process is ignored and deleted", "[loopback]") {
  TempDir dir;
  REQUIRE(hg::ble::loopback::prepare_dir(dir.path).ok());
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);  // child is gone and reaped
  const std::string stale = dir.path + "/adv-" + std::to_string(child) + "-00aa.bin";
  write_raw(stale, hg::ble::loopback::encode_file({hg::ble::kFidoCableUuid, uint32_t(child), payload(1)}));
  REQUIRE(fs::exists(stale));

  boost::asio::io_context io;
  auto sc = hg::ble::loopback::make_scanner(io, dir.path);
  REQUIRE(sc.ok());
  Collector c;
  REQUIRE((*sc)->start(c.fn()).ok());
  REQUIRE(run_until(io, [&] { return !fs::exists(stale); }));
  CHECK(c.seen.empty());

  // A stale file appearing while scanning is treated the same way.
  const std::string stale2 = dir.path + "/adv-" + std::to_string(child) + "-00bb.bin";
  write_raw(stale2, hg::ble::loopback::encode_file({hg::ble::kFidoCableUuid, uint32_t(child), payload(2)}));
  REQUIRE(run_until(io, [&] { return !fs::exists(stale2); }));
  CHECK(c.seen.empty());
}

TEST_CASE("loopback garbage files never crash the scanner", "[loopback]") {
  TempDir dir;
  REQUIRE(hg::ble::loopback::prepare_dir(dir.path).ok());
  const std::string me = std::to_string(::getpid());
  write_raw(dir.path + "/adv-" + me + "-01.bin", Bytes{1, 2, 3});                       // too short
  write_raw(dir.path + "/adv-" + me + "-02.bin", Bytes(600, 0x41));                     // too big
  auto good = hg::ble::loopback::encode_file({hg::ble::kFidoCableUuid, uint32_t(::getpid()), payload(7)});
  auto bad_len = good;
  bad_len[12] = 0xff;
  write_raw(dir.path + "/adv-" + me + "-03.bin", bad_len);                              // length lies
  auto wrong_pid = hg::ble::loopback::encode_file({hg::ble::kFidoCableUuid, 1, payload(7)});
  write_raw(dir.path + "/adv-" + me + "-04.bin", wrong_pid);                            // pid != name
  write_raw(dir.path + "/adv-notapid-05.bin", good);                                    // bad name
  write_raw(dir.path + "/random.txt", good);                                            // not an advert name
  fs::create_directory(dir.path + "/adv-" + me + "-06.bin");                            // a directory
  fs::create_symlink("/etc/passwd", dir.path + "/adv-" + me + "-07.bin");               // a symlink
  write_raw(dir.path + "/adv-" + me + "-08.bin", Bytes{});                              // empty

  boost::asio::io_context io;
  auto sc = hg::ble::loopback::make_scanner(io, dir.path);
  REQUIRE(sc.ok());
  Collector c;
  REQUIRE((*sc)->start(c.fn()).ok());
  settle(io);
  CHECK(c.seen.empty());
  // More garbage while scanning, then one good advert which must still arrive.
  write_raw(dir.path + "/adv-" + me + "-09.bin", Bytes(513, 0));
  write_raw(dir.path + "/adv-" + me + "-0a.bin", good);
  REQUIRE(run_until(io, [&] { return c.seen.size() == 1; }));
  CHECK(c.seen[0].service_data == payload(7));
  settle(io, 100ms);
  CHECK(c.seen.size() == 1);
}

TEST_CASE("loopback directory must be private", "[loopback]") {
  TempDir dir;
  REQUIRE(hg::ble::loopback::prepare_dir(dir.path).ok());
  struct stat st {};
  REQUIRE(::stat(dir.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::chmod(dir.path.c_str(), 0777) == 0);
  boost::asio::io_context io;
  auto sc = hg::ble::loopback::make_scanner(io, dir.path);
  REQUIRE_FALSE(sc.ok());
  CHECK(sc.error().code == hg::Errc::ble_failed);
  CHECK_FALSE(hg::ble::loopback::make_advertiser(io, dir.path).ok());
  REQUIRE(::chmod(dir.path.c_str(), 0700) == 0);
  // A file where the directory should be.
  const std::string file = dir.path + "/f";
  write_raw(file, Bytes{1});
  CHECK_FALSE(hg::ble::loopback::prepare_dir(file).ok());
  // A symlink to a directory is refused as well.
  fs::create_directory_symlink(dir.path, dir.path + "-link");
  CHECK_FALSE(hg::ble::loopback::prepare_dir(dir.path + "-link").ok());
}

TEST_CASE("loopback directory resolution order", "[loopback]") {
  ::setenv("HYBRIDGATE_RADIO_DIR", "/tmp/from-env", 1);
  CHECK(hg::ble::loopback::resolve_dir("/tmp/explicit") == "/tmp/explicit");
  CHECK(hg::ble::loopback::resolve_dir("") == "/tmp/from-env");
  ::unsetenv("HYBRIDGATE_RADIO_DIR");
  ::setenv("XDG_RUNTIME_DIR", "/run/user/1234", 1);
  CHECK(hg::ble::loopback::resolve_dir("") == "/run/user/1234/hybridgate-radio");
  ::unsetenv("XDG_RUNTIME_DIR");
  CHECK(hg::ble::loopback::resolve_dir("") == "/tmp/hybridgate-radio-" + std::to_string(::getuid()));
}

TEST_CASE("loopback adverts cross processes", "[loopback]") {
  TempDir dir;
  REQUIRE(hg::ble::loopback::prepare_dir(dir.path).ok());
  int to_child[2], to_parent[2];
  REQUIRE(::pipe(to_child) == 0);
  REQUIRE(::pipe(to_parent) == 0);
  const Bytes data = payload(42);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The phone: advertise, tell the parent, wait for the parent's word, then exit (the
    // destructor removes the file).
    ::close(to_child[1]);
    ::close(to_parent[0]);
    boost::asio::io_context io;
    int rc = 1;
    {
      auto adv = hg::ble::loopback::make_advertiser(io, dir.path);
      if (adv && (*adv)->start(data)) {
        char x = 'r';
        if (::write(to_parent[1], &x, 1) == 1 && ::read(to_child[0], &x, 1) == 1) rc = 0;
      }
    }
    ::_exit(rc);
  }
  ::close(to_child[0]);
  ::close(to_parent[1]);
  char x = 0;
  REQUIRE(::read(to_parent[0], &x, 1) == 1);

  boost::asio::io_context io;
  auto sc = hg::ble::loopback::make_scanner(io, dir.path);
  REQUIRE(sc.ok());
  Collector c;
  REQUIRE((*sc)->start(c.fn()).ok());
  REQUIRE(run_until(io, [&] { return c.seen.size() == 1; }));
  CHECK(c.seen[0].service_data == data);
  CHECK(c.seen[0].device.find("adv-" + std::to_string(child) + "-") == 0);
  REQUIRE(::write(to_child[1], &x, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(fs::is_empty(dir.path));
  ::close(to_child[1]);
  ::close(to_parent[0]);
}

TEST_CASE("factories pick the loopback radio and say so once", "[loopback]") {
  TempDir dir;
  // No system bus: the automatic choice falls back to loopback.
  ::setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/hybridgate-test-bus", 1);
  boost::asio::io_context io;
  std::vector<std::string> notices;
  hg::ble::RadioOptions opts;
  opts.loopback_dir = dir.path;
  opts.notice = [&](const std::string& s) { notices.push_back(s); };
  auto sc = hg::ble::make_scanner(io, opts);
  REQUIRE(sc.ok());
  auto adv = hg::ble::make_advertiser(io, opts);
  REQUIRE(adv.ok());
  REQUIRE(notices.size() == 1);
  CHECK(notices[0].find("loopback") != std::string::npos);
  CHECK(notices[0].find("ble.no_system_bus") != std::string::npos);

  Collector c;
  REQUIRE((*sc)->start(c.fn()).ok());
  REQUIRE((*adv)->start(payload(77)).ok());
  REQUIRE(run_until(io, [&] { return c.seen.size() == 1; }));
  CHECK(c.seen[0].service_data == payload(77));

  // Forcing BlueZ without a bus is an error, not a silent fallback.
  opts.kind = hg::ble::RadioKind::bluez;
  auto forced = hg::ble::make_scanner(io, opts);
  REQUIRE_FALSE(forced.ok());
  CHECK(forced.error().code == hg::Errc::ble_no_system_bus);
  opts.kind = hg::ble::RadioKind::loopback;
  CHECK(hg::ble::make_scanner(io, opts).ok());
  CHECK(notices.size() == 1);
  ::unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
}

TEST_CASE("uuid128 spells the Bluetooth base UUID", "[loopback]") {
  CHECK(hg::ble::uuid128(0xFFF9) == "0000fff9-0000-1000-8000-00805f9b34fb");
  CHECK(hg::ble::uuid128(0xFDE2) == "0000fde2-0000-1000-8000-00805f9b34fb");
}
