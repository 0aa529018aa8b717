// SPDX-License-Identifier: Apache-2.0
// hybridgate-key (what `hybridgate key` runs): the phone as a FIDO security key. Creates a CTAP-HID
// device through /dev/uhid (bridges/key/uhid) and serves it with the device core
// (bridges/key/key_device) until SIGINT or SIGTERM; the device disappears when it exits. Reads the
// desktop settings every other part reads (hybrid/settings.hpp); the options below override them.
// Output and exit statuses are the hybridgate CLI's. docs/security-key.md.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bridges/key/bus.hpp"
#include "bridges/key/key_device.hpp"
#include "bridges/key/uhid.hpp"
#include "bridges/key/window.hpp"
#include "hybrid/desktop.hpp"
#include "hybrid/settings.hpp"
#include "qr/render.hpp"

namespace hgkey {
namespace {

using namespace hg;

constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

// ---- SIGINT / SIGTERM: a thread waits for them and runs the registered stop (else exits 130).
std::mutex g_signal_mutex;
std::function<void()> g_stop;  // guarded by g_signal_mutex
std::atomic<bool> g_interrupted{false};

void install_interrupt_handler() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every thread started later
  std::thread([set] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      g_interrupted = true;
      std::lock_guard lock(g_signal_mutex);
      if (g_stop) {
        g_stop();
      } else {
        _exit(kExitInterrupted);
      }
    }
  }).detach();
}

class StopOnInterrupt {
 public:
  explicit StopOnInterrupt(std::function<void()> stop) {
    std::lock_guard lock(g_signal_mutex);
    g_stop = std::move(stop);
    if (g_interrupted) g_stop();
  }
  ~StopOnInterrupt() {
    std::lock_guard lock(g_signal_mutex);
    g_stop = nullptr;
  }
  StopOnInterrupt(const StopOnInterrupt&) = delete;
  StopOnInterrupt& operator=(const StopOnInterrupt&) = delete;
};

// ---- the CLI's error output: the sentence on stderr, {"error": {code, message}} on stdout.
int fail(const Error& e, std::string_view who) {
  std::string msg(e.sentence());
  if (!e.detail.empty()) msg += " (" + e.detail + ")";
  std::cerr << who << ": " << msg << " [" << e.name() << "]\n";
  std::cout << nlohmann::json{{"error", {{"code", e.name()}, {"message", msg}}}}.dump(2) << std::endl;
  if (e.code == Errc::session_cancelled && g_interrupted) return kExitInterrupted;
  return 1;
}
int fail_config(const Error& e, std::string_view who) {
  const int rc = fail(e, who);
  return e.code == Errc::config_invalid ? kExitUsage : rc;
}

template <typename Check>
CLI::Validator setting_check(const char* name, Check check) {
  return CLI::Validator(
      [check](std::string& value) -> std::string {
        auto st = check(value);
        return st ? std::string() : st.error().detail;
      },
      name);
}
CLI::Validator tunnel_url_check() { return setting_check("TUNNEL_URL", [](const std::string& s) { return hybrid::check_tunnel_url(s); }); }
CLI::Validator ca_file_check() { return setting_check("CA_FILE", [](const std::string& s) { return hybrid::check_ca_file(s); }); }
CLI::Validator qr_url_file_check() {
  return setting_check("QR_URL_FILE", [](const std::string& s) { return hybrid::check_qr_url_file(s); });
}

struct KeyOptions {
  std::string uhid = "/dev/uhid", name = "hybridgate phone as security key";
  std::string tunnel_url, ca_file, radio, links, phone, qr_url_file;
  bool link_phone = false, no_terminal_qr = false, no_window = false, quiet = false;
  std::string window_program;
  double advert_timeout = 0, response_timeout = 0;
};

int fail_with(const Error& e) { return fail(e, "hybridgate key"); }

int serve(const KeyOptions& o) {
  auto config = hybrid::load_desktop_config();
  if (!config) return fail_config(config.error(), "hybridgate key");
  if (!o.tunnel_url.empty()) config->tunnel_url = o.tunnel_url;
  if (!o.ca_file.empty()) config->ca_file = o.ca_file;
  if (!o.radio.empty()) {
    auto kind = hybrid::parse_radio(o.radio);
    if (!kind) return fail_with(kind.error());
    config->radio.kind = *kind;
  }
  if (!o.links.empty()) config->links_file = o.links;
  if (o.link_phone) config->link_phone = true;
  if (!o.phone.empty()) config->phone = o.phone;
  if (!o.qr_url_file.empty()) config->qr_url_file = o.qr_url_file;
  // With no window and no terminal, the QR URL file is where the person finds the code.
  if (config->qr_url_file.empty()) {
    if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run)
      config->qr_url_file = std::filesystem::path(run) / "hybridgate-key-qr-url";
  }
  if (o.advert_timeout > 0) config->deadlines.advert = std::chrono::milliseconds(int64_t(o.advert_timeout * 1000));
  if (o.response_timeout > 0) config->deadlines.response = std::chrono::milliseconds(int64_t(o.response_timeout * 1000));
  std::mutex log_mutex;
  auto log = [&](const std::string& line) {
    if (o.quiet) return;
    std::lock_guard lk(log_mutex);
    std::cerr << "hybridgate key: " << line << std::endl;
  };
  config->radio.notice = log;

  auto uhid = key::Uhid::create({.name = o.name, .uniq = {}, .device = o.uhid});
  if (!uhid) return fail_with(uhid.error());
  hybrid::Desktop desktop(std::move(*config));
  key::KeyCallbacks cb;
  cb.log = log;
  const bool terminal_qr = !o.no_terminal_qr && ::isatty(STDERR_FILENO);
  cb.qr = [&, terminal_qr](const std::string& url) {
    if (!terminal_qr) return;
    auto m = qr::encode(url);
    if (!m) return;
    std::lock_guard lk(log_mutex);
    std::cerr << qr::to_terminal(*m, {}) << "Scan this QR code with your phone.\n";
  };
  // The person's window (GTK 4 helper, bridges/key/window.hpp) when a graphical session is there.
  std::unique_ptr<key::WindowGlue> window;
  if (o.no_window) {
    log("no window (--no-window)");
  } else if (!key::Window::graphical_session()) {
    const auto& file = desktop.config().qr_url_file;
    log("no graphical session (neither DISPLAY nor WAYLAND_DISPLAY is set): no window. " +
        (file.empty() ? std::string("Give --qr-url-file to receive each QR code's URL.")
                      : "Each QR code's FIDO:/ URL is written to " + file.string() +
                            "; show it with: hybridgate qr render \"$(cat " + file.string() + ")\""));
  } else {
    window = std::make_unique<key::WindowGlue>(
        desktop, o.window_program.empty() ? key::Window::default_program() : o.window_program, log);
    window->install(cb);
  }
  // org.hybridgate.Key1: other programs (the OpenSSH provider, register/sign-in
  // --no-terminal-qr) show their QR code in this window (bridges/key/bus.hpp).
  std::unique_ptr<key::KeyBus> bus;
  if (window) {
    std::string why;
    bus = key::KeyBus::start(o.window_program.empty() ? key::Window::default_program() : o.window_program, log, why);
    log(bus ? std::string("serving org.hybridgate.Key1 on the session bus")
            : "no session-bus interface (" + why + "): other programs cannot show their QR code here");
  }
  key::KeyDevice device(desktop, [&](const key::Report& r) {
    if (auto st = (*uhid)->send(r); !st) log(st.error().to_string());
  }, cb);
  if (window) window->attach(&device);
  StopOnInterrupt on_interrupt([&] { (*uhid)->stop(); });
  log("serving the security key \"" + o.name + "\" (" + o.uhid + "); stop with Ctrl-C or SIGTERM");
  Status st = (*uhid)->run({.output = [&](ByteView r) { device.receive(r); },
                            .opened = [&] { log("a host opened the key"); },
                            .closed = [&] {
                              log("the last host closed the key");
                              device.host_gone();
                            }});
  if (window) window->attach(nullptr);
  if (!st) return fail_with(st.error());
  log("stopping; the device goes away");
  return 0;
}

}  // namespace
}  // namespace hgkey

int main(int argc, char** argv) {
  using namespace hgkey;
  install_interrupt_handler();
  auto o = std::make_shared<KeyOptions>();
  CLI::App app{"Be a FIDO security key (CTAP-HID over /dev/uhid) whose credentials live on the phone", "hybridgate key"};
  auto* k = &app;
  k->add_option("--uhid", o->uhid, "The uhid device (default /dev/uhid)");
  k->add_option("--name", o->name, "The HID device name (must contain \"hybridgate\")");
  k->add_flag("--link-phone", o->link_phone, "Offer phones to be remembered, so later requests need no QR code");
  k->add_option("--links", o->links, "Links file (default: $XDG_DATA_HOME/hybridgate/links.json)");
  k->add_option("--phone", o->phone, "Wake this remembered phone instead of showing a QR code");
  k->add_option("--tunnel-url", o->tunnel_url, "Use this tunnel server for every domain")->check(tunnel_url_check());
  k->add_option("--ca-file", o->ca_file, "Extra trusted CA certificate (PEM) for a wss:// tunnel server")->check(ca_file_check());
  k->add_option("--radio", o->radio, "Radio: auto, bluez, loopback")->check(CLI::IsMember({"auto", "bluez", "loopback"}));
  k->add_option("--qr-url-file", o->qr_url_file,
                "Write each FIDO:/ URL to this file (mode 0600; default: $XDG_RUNTIME_DIR/hybridgate-key-qr-url)")
      ->check(qr_url_file_check());
  k->add_flag("--no-terminal-qr", o->no_terminal_qr, "Do not draw QR codes on stderr (drawn only when it is a terminal)");
  k->add_option("--advert-timeout", o->advert_timeout, "Seconds to wait for the phone's advert (default 120)")
      ->check(CLI::PositiveNumber);
  k->add_option("--response-timeout", o->response_timeout, "Seconds the person has to answer (default 180)")
      ->check(CLI::PositiveNumber);
  k->add_flag("--no-window", o->no_window, "Never open the window (GTK 4) that shows the site and the QR code");
  k->add_option("--window-program", o->window_program,
                "The window helper (default: $HYBRIDGATE_KEY_WINDOW, else the installed hybridgate-key-window)");
  k->add_flag("--quiet", o->quiet, "No log lines on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, the version, or the error and a hint
    return rc == 0 ? 0 : kExitUsage;
  }
  return serve(*o);
}
