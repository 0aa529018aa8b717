// SPDX-License-Identifier: Apache-2.0
#include "bridges/key/window.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

extern char** environ;

#ifndef HG_LIBEXEC_DIR_NAME
#define HG_LIBEXEC_DIR_NAME "libexec"
#endif
#ifndef HG_LIBEXEC_KEY_WINDOW
#define HG_LIBEXEC_KEY_WINDOW "/usr/libexec/hybridgate/hybridgate-key-window"
#endif

namespace hg::key {
namespace {

constexpr size_t kMaxLine = 4096;  // the helper's messages are short

struct Child {
  pid_t pid = -1;
  int fd = -1;  // our end of the socket (the helper's stdin and stdout)
  bool writable = true;
  std::thread reader;
};

}  // namespace

struct Window::Impl {
  std::string program;
  WindowActions actions;
  std::mutex m;
  std::list<Child> children;  // the current window last; earlier ones may still be exiting
  Child* current = nullptr;

  void log(const std::string& line) {
    if (actions.log) actions.log(line);
  }

  void send(Child& c, const nlohmann::json& j) {
    if (!c.writable) return;
    std::string line = j.dump() + "\n";
    const char* p = line.data();
    size_t n = line.size();
    while (n) {
      ssize_t w = ::send(c.fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        c.writable = false;
        return;
      }
      p += w;
      n -= size_t(w);
    }
  }

  void end_input(Child& c) {
    if (!c.writable) return;
    c.writable = false;
    ::shutdown(c.fd, SHUT_WR);
  }

  // The helper's messages, until it exits. Reader thread.
  void read_loop(Child* c) {
    std::string buf;
    char chunk[512];
    for (;;) {
      ssize_t r = ::recv(c->fd, chunk, sizeof chunk, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      buf.append(chunk, size_t(r));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        handle(buf.substr(0, nl));
        buf.erase(0, nl + 1);
      }
      if (buf.size() > kMaxLine) buf.clear();
    }
    int status = 0;
    while (::waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard lk(m);
      c->pid = -1;
    }
    if (actions.gone) actions.gone();
  }

  void handle(const std::string& line) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) return;
    if (auto s = j.find("shown"); s != j.end() && s->is_string()) {
      if (actions.shown) actions.shown(s->get<std::string>());
    } else if (j.contains("cancel")) {
      if (actions.cancel) actions.cancel();
    } else if (auto it = j.find("phone"); it != j.end() && it->is_string()) {
      if (actions.phone) actions.phone(it->get<std::string>());
    }
  }

  // Joins the readers of helpers that have exited. m held.
  void reap() {
    for (auto it = children.begin(); it != children.end();) {
      if (it->pid < 0 && &*it != current) {
        if (it->reader.joinable()) it->reader.join();
        ::close(it->fd);
        it = children.erase(it);
      } else {
        ++it;
      }
    }
  }
};

std::string Window::default_program() {
  if (const char* env = std::getenv("HYBRIDGATE_KEY_WINDOW"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // A build tree (bin/), then an installed prefix wherever it was moved (bin/../libexec/).
    for (const auto& near : {self.parent_path() / "hybridgate-key-window",
                             self.parent_path().parent_path() / HG_LIBEXEC_DIR_NAME / "hybridgate" / "hybridgate-key-window"}) {
      if (::access(near.c_str(), X_OK) == 0) return near;
    }
  }
  return HG_LIBEXEC_KEY_WINDOW;
}

bool Window::graphical_session() {
  for (const char* name : {"DISPLAY", "WAYLAND_DISPLAY"}) {
    const char* v = std::getenv(name);
    if (v && *v) return true;
  }
  return false;
}

Window::Window(std::string program, WindowActions actions) : impl_(std::make_unique<Impl>()) {
  impl_->program = std::move(program);
  impl_->actions = std::move(actions);
}

Window::~Window() {
  std::lock_guard lk(impl_->m);
  for (Child& c : impl_->children) {
    impl_->end_input(c);
    if (c.pid > 0) ::kill(c.pid, SIGTERM);
  }
  for (Child& c : impl_->children) {
    impl_->m.unlock();
    if (c.reader.joinable()) c.reader.join();
    impl_->m.lock();
    ::close(c.fd);
  }
}

void Window::open(const PhoneRequest& request, const std::vector<std::string>& phones) {
  std::lock_guard lk(impl_->m);
  if (impl_->current) impl_->end_input(*impl_->current);
  impl_->current = nullptr;
  impl_->reap();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    impl_->log("cannot open the window: socketpair failed");
    return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO);
  std::string prog = impl_->program;
  char* argv[] = {prog.data(), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, prog.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(sv[1]);
  if (rc != 0) {
    ::close(sv[0]);
    impl_->log("cannot start the window " + prog + ": " + std::strerror(rc));
    return;
  }
  Child& c = impl_->children.emplace_back();
  c.pid = pid;
  c.fd = sv[0];
  impl_->current = &c;
  nlohmann::json show = {{"registration", request.registration}, {"rp_id", request.rp_id},
                         {"account", request.account}, {"phone", request.phone}, {"phones", phones}};
  impl_->send(c, {{"show", show}});
  c.reader = std::thread([this, p = &c] { impl_->read_loop(p); });
}

void Window::qr(const std::string& fido_url) {
  std::lock_guard lk(impl_->m);
  if (impl_->current) impl_->send(*impl_->current, {{"qr", fido_url}});
}

void Window::status(const std::string& sentence) {
  std::lock_guard lk(impl_->m);
  if (impl_->current) impl_->send(*impl_->current, {{"status", sentence}});
}

void Window::close(RequestEnd end, const std::string& detail) {
  std::lock_guard lk(impl_->m);
  if (!impl_->current) return;
  if (end == RequestEnd::failed) impl_->send(*impl_->current, {{"error", detail}});
  impl_->end_input(*impl_->current);
  impl_->current = nullptr;
}

WindowGlue::WindowGlue(hybrid::Desktop& desktop, std::string program, std::function<void(const std::string&)> log)
    : desktop_(desktop), log_(std::move(log)) {
  window_ = std::make_unique<Window>(std::move(program), WindowActions{
      .cancel = [this] {
        std::lock_guard lk(m_);  // held during the call: detach (attach(nullptr)) waits for it
        if (device_) device_->decline();
      },
      .phone = [this](const std::string& name) {
        std::lock_guard lk(m_);
        if (device_) device_->use_phone(name);
      },
      .shown = [this](const std::string& state) {
        log_(state == "error" ? "the window shows the failure" : "the window is shown");
      },
      .gone = [this] { log_("the window is gone"); },
      .log = log_});
}

void WindowGlue::install(KeyCallbacks& cb) {
  cb.request_started = [this](const PhoneRequest& r) {
    std::vector<std::string> names;
    if (auto phones = desktop_.phones()) {
      for (const auto& p : *phones) names.push_back(p.name);
    }
    window_->open(r, names);
  };
  cb.request_ended = [this](RequestEnd end, const std::string& detail) { window_->close(end, detail); };
  cb.qr = [this, next = std::move(cb.qr)](const std::string& url) {
    window_->qr(url);
    if (next) next(url);
  };
}

void WindowGlue::attach(KeyDevice* device) {
  std::lock_guard lk(m_);
  device_ = device;
}

}  // namespace hg::key
