// SPDX-License-Identifier: Apache-2.0
// key-window-bench: figures of the security key's window (docs/security-key.md), under an X
// server (xvfb-run) or in a desktop session:
//   request → window shown   Window::open() until the helper's first frame is drawn ({"shown"})
//   close → window gone      Window::close() until the helper has exited (its window with it)
// usage: key-window-bench [--quick] WINDOW_PROGRAM
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "bridges/key/window.hpp"

using namespace hg;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  bool quick = false;
  std::string program;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else
      program = argv[i];
  }
  if (program.empty()) {
    std::fprintf(stderr, "usage: key-window-bench [--quick] WINDOW_PROGRAM\n");
    return 2;
  }
  std::mutex m;
  std::condition_variable cv;
  int shown = 0, gone = 0;
  key::Window window(program, {.cancel = {}, .phone = {},
  .shown = [&](const std::string&) { std::lock_guard lk(m); ++shown; cv.notify_all(); },
                               .gone = [&] { std::lock_guard lk(m); ++gone; cv.notify_all(); },
                               .log = [](const std::string& l) { std::fprintf(stderr, "%s\n", l.c_str()); }});
  const int runs = quick ? 2 : 20;
  std::vector<double> open_ms, close_ms;
  key::PhoneRequest req{.registration = true, .rp_id = "example.org", .account = "alice", .phone = {}};
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    window.open(req, {"Pixel 8"});
    window.qr("FIDO:/1234567890123456789012345678901234567890123456789012345678901234567890");
    std::unique_lock lk(m);
    if (!cv.wait_for(lk, std::chrono::seconds(20), [&] { return shown == i + 1; })) {
      std::fprintf(stderr, "the window was not shown (is an X server or Wayland session there?)\n");
      return 1;
    }
    auto t1 = Clock::now();
    lk.unlock();
    window.close(key::RequestEnd::host_cancelled, {});
    lk.lock();
    if (!cv.wait_for(lk, std::chrono::seconds(20), [&] { return gone == i + 1; })) {
      std::fprintf(stderr, "the window did not go away\n");
      return 1;
    }
    auto t2 = Clock::now();
    open_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    close_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  auto report = [](const char* what, std::vector<double> v) {
    std::sort(v.begin(), v.end());
    std::printf("%-28s median %7.1f ms   max %7.1f ms   (%zu runs)\n", what, v[v.size() / 2], v.back(), v.size());
  };
  report("request -> window shown", open_ms);
  report("close -> window gone", close_ms);
  // CPU time of the helpers (all reaped by now): what the wall-clock figures cost on an idle machine.
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  const double cpu = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
                     double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
  std::printf("%-28s %7.1f ms CPU per window (user + system), max RSS %ld kB\n", "helper", cpu / runs, ru.ru_maxrss);
  return 0;
}
