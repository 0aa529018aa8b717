// SPDX-License-Identifier: Apache-2.0
#include "pin_input.hpp"

#include "store/private_file.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

extern char** environ;

namespace hgcli {

namespace {

// Reads one line from fd (bounded to max_len; a longer line is refused). nullopt at end of input,
// on an error, when `cancelled` turns true, or after `timeout_ms` (< 0 = none).
std::optional<std::string> read_line_fd(int fd, size_t max_len, const std::atomic<bool>& cancelled, int timeout_ms,
                                        bool* too_long) {
  std::string line;
  bool over = false;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (cancelled) {
      hg::store::wipe_string(line);
      return std::nullopt;
    }
    if (timeout_ms >= 0 && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(timeout_ms)) {
      hg::store::wipe_string(line);
      return std::nullopt;
    }
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, 100);  // re-checks `cancelled` every 100 ms
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    char c = 0;
    const ssize_t got = ::read(fd, &c, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (c == '\n') {
      if (too_long) *too_long = over;
      if (over) {
        hg::store::wipe_string(line);
        return std::string();
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (line.size() < max_len) {
      line += c;
    } else {
      over = true;
    }
  }
  hg::store::wipe_string(line);
  return std::nullopt;
}

hg::SecretBytes to_secret(std::string& s) {
  hg::SecretBytes out(hg::as_bytes(s));
  hg::store::wipe_string(s);
  return out;
}

// ---- the terminal

std::optional<hg::SecretBytes> ask_tty(const SecretQuestion& q, const std::atomic<bool>& cancelled, std::string* why) {
  const int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) {
    if (why) *why = "there is no terminal to ask on (use --pinentry or --pin-fd)";
    return std::nullopt;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{tty};
  std::string text = "\n" + q.description + "\n";
  if (!q.error.empty()) text += q.error + "\n";
  text += q.prompt + " ";
  if (::write(tty, text.data(), text.size()) < 0) return std::nullopt;
  termios old{};
  const bool have_termios = ::tcgetattr(tty, &old) == 0;
  if (have_termios) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  bool too_long = false;
  auto line = read_line_fd(tty, q.max_len, cancelled, -1, &too_long);
  if (have_termios) ::tcsetattr(tty, TCSAFLUSH, &old);
  if (!line) {
    if (why) *why = cancelled ? "withdrawn" : "no answer on the terminal";
    return std::nullopt;
  }
  if (too_long) {
    if (why) *why = "longer than " + std::to_string(q.max_len) + " bytes";
    return std::nullopt;
  }
  return to_secret(*line);
}

// ---- pinentry (Assuan)

// Assuan's escaping of a parameter: %, CR, LF (and anything below 0x20) as %XX.
std::string assuan_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '%' || c < 0x20) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The %XX decoding of a data line; false on a malformed escape.
bool assuan_unescape(const std::string& s, std::string& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return false;
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

class Pinentry {
 public:
  ~Pinentry() {
    if (to_ >= 0) ::close(to_);
    if (from_ >= 0) ::close(from_);
    if (pid_ > 0) {
      int status = 0;
      // It was told BYE (or its input closed): it exits; a stuck one is stopped.
      for (int i = 0; i < 20; ++i) {
        if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
        ::poll(nullptr, 0, 50);
      }
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }

  bool start(const std::string& program, std::string* why) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return false;
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    std::string prog = program;
    char* argv[] = {prog.data(), nullptr};
    const int rc = ::posix_spawnp(&pid_, prog.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      if (why) *why = "cannot start " + program + ": " + std::strerror(rc);
      return false;
    }
    return true;
  }

  // The next line that is not a comment or status line; nullopt on EOF, cancel or a 60 s silence
  // (a person may take a while, but not forever).
  std::optional<std::string> line(const std::atomic<bool>& cancelled, int timeout_ms) {
    for (;;) {
      bool too_long = false;
      auto l = read_line_fd(from_, 1000, cancelled, timeout_ms, &too_long);
      if (!l || too_long) return std::nullopt;
      if (l->starts_with("#") || l->starts_with("S ")) continue;
      return l;
    }
  }

  bool send(const std::string& s) {
    std::string l = s + "\n";
    const char* p = l.data();
    size_t left = l.size();
    while (left > 0) {
      const ssize_t n = ::write(to_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        hg::store::wipe_string(l);
        return false;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    hg::store::wipe_string(l);
    return true;
  }

  // A command answered by OK (true) or ERR (false).
  bool command(const std::string& c, const std::atomic<bool>& cancelled) {
    if (!send(c)) return false;
    auto l = line(cancelled, 10'000);
    return l && l->starts_with("OK");
  }

  int to_ = -1, from_ = -1;
  pid_t pid_ = -1;
};

std::optional<hg::SecretBytes> ask_pinentry(const std::string& program, const SecretQuestion& q,
                                            const std::atomic<bool>& cancelled, std::string* why) {
  ::signal(SIGPIPE, SIG_IGN);  // a pinentry that dies must not take the phone with it
  Pinentry pe;
  if (!pe.start(program, why)) return std::nullopt;
  auto hello = pe.line(cancelled, 10'000);
  if (!hello || !hello->starts_with("OK")) {
    if (why) *why = program + " did not greet in the Assuan protocol";
    return std::nullopt;
  }
  if (::isatty(STDIN_FILENO)) {
    if (const char* name = ::ttyname(STDIN_FILENO)) pe.command("OPTION ttyname=" + assuan_escape(name), cancelled);
    if (const char* term = std::getenv("TERM")) pe.command("OPTION ttytype=" + assuan_escape(term), cancelled);
  }
  pe.command("SETTITLE " + assuan_escape(q.title), cancelled);
  pe.command("SETDESC " + assuan_escape(q.description), cancelled);
  pe.command("SETPROMPT " + assuan_escape(q.prompt), cancelled);
  if (!q.error.empty()) pe.command("SETERROR " + assuan_escape(q.error), cancelled);
  if (!pe.send("GETPIN")) return std::nullopt;
  std::string pin;
  bool got_data = false;
  for (;;) {
    auto l = pe.line(cancelled, 600'000);
    if (!l) {
      hg::store::wipe_string(pin);
      if (why) *why = cancelled ? "withdrawn" : program + " stopped answering";
      return std::nullopt;
    }
    if (l->starts_with("D ")) {
      const bool ok = assuan_unescape(l->substr(2), pin);
      hg::store::wipe_string(*l);
      if (!ok) {
        hg::store::wipe_string(pin);
        return std::nullopt;
      }
      got_data = true;
      continue;
    }
    if (l->starts_with("OK")) break;
    if (l->starts_with("ERR")) {  // e.g. "ERR 83886179 Operation cancelled"
      hg::store::wipe_string(pin);
      if (why) *why = "declined in " + program;
      return std::nullopt;
    }
    if (l->starts_with("INQUIRE")) pe.send("CAN");
  }
  pe.send("BYE");
  if (!got_data || pin.size() > q.max_len) {
    hg::store::wipe_string(pin);
    if (why) *why = got_data ? "longer than " + std::to_string(q.max_len) + " bytes" : "nothing was entered";
    return std::nullopt;
  }
  return to_secret(pin);
}

}  // namespace

std::optional<hg::SecretBytes> ask_secret(const SecretSource& src, const SecretQuestion& q,
                                          const std::atomic<bool>& cancelled, std::string* why) {
  if (src.fd >= 0) {
    bool too_long = false;
    auto line = read_line_fd(src.fd, q.max_len, cancelled, -1, &too_long);
    if (!line) {
      if (why) *why = cancelled ? "withdrawn" : "end of the PIN input (--pin-fd)";
      return std::nullopt;
    }
    if (too_long) {
      if (why) *why = "longer than " + std::to_string(q.max_len) + " bytes";
      return std::nullopt;
    }
    return to_secret(*line);
  }
  if (!src.pinentry.empty()) return ask_pinentry(src.pinentry, q, cancelled, why);
  return ask_tty(q, cancelled, why);
}

}  // namespace hgcli
