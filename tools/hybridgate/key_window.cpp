// SPDX-License-Identifier: Apache-2.0
#include "key_window.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "commands.hpp"

extern char** environ;

namespace hgcli {
namespace {

// Starts `argv` with stdin/stdout on the given descriptors (-1 = inherited) and an empty signal
// mask (the CLI blocks SIGINT/SIGTERM for its signal thread). -1 on failure.
pid_t spawn(const std::vector<std::string>& args, int in, int out) {
  const auto path = find_program("hybridgate-key-show");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("hybridgate-key-show"));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  if (in >= 0) posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
  if (out >= 0) posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, path.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc == 0 ? pid : -1;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One line from fd (without the '\n'); false at the end or on an error.
bool read_line(int fd, std::string& line) {
  line.clear();
  char c;
  while (true) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (c == '\n') return true;
    if (line.size() < 4096) line += c;
  }
}

}  // namespace

bool KeyWindow::available() {
  const pid_t pid = spawn({"--available"}, -1, -1);
  return pid > 0 && wait_for(pid) == 0;
}

std::unique_ptr<KeyWindow> KeyWindow::show(const std::string& rp_id, const std::string& account, const std::string& url,
                                           std::function<void()> cancelled) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return nullptr;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return nullptr;
  }
  const pid_t pid = spawn({rp_id, account}, in[0], out[1]);
  ::close(in[0]);
  ::close(out[1]);
  if (pid < 0) {
    ::close(in[1]);
    ::close(out[0]);
    return nullptr;
  }
  // A helper that exited already must not kill us with SIGPIPE: block it for this write, and
  // take a pending one away.
  const std::string line = url + "\n";
  sigset_t pipe_sig, old;
  sigemptyset(&pipe_sig);
  sigaddset(&pipe_sig, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_sig, &old);
  bool ok = ::write(in[1], line.data(), line.size()) == static_cast<ssize_t>(line.size());
  if (!ok && errno == EPIPE) {
    const timespec zero{};
    sigtimedwait(&pipe_sig, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  std::string first;
  ok = ok && read_line(out[0], first) && first == "shown";
  if (!ok) {
    ::close(in[1]);
    ::close(out[0]);
    wait_for(pid);
    return nullptr;
  }
  return std::unique_ptr<KeyWindow>(new KeyWindow(pid, in[1], out[0], std::move(cancelled)));
}

KeyWindow::KeyWindow(pid_t pid, int in, int out, std::function<void()> cancelled) : pid_(pid), in_(in), out_(out) {
  reader_ = std::thread([fd = out_, cancelled = std::move(cancelled)] {
    std::string line;
    while (read_line(fd, line)) {
      if (line == "cancelled" && cancelled) cancelled();
    }
  });
}

KeyWindow::~KeyWindow() {
  ::close(in_);  // the helper closes the window and exits; its stdout ends, so does the reader
  if (reader_.joinable()) reader_.join();
  ::close(out_);
  wait_for(pid_);
}

}  // namespace hgcli
