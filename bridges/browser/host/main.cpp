// SPDX-License-Identifier: Apache-2.0
// hybridgate-native-host: the native messaging host behind the hybridgate browser extension
// (Firefox and Chromium-based browsers). The browser starts it when the extension connects and
// speaks length-prefixed JSON on standard input/output (messaging.hpp). One ceremony at a time:
//
//   extension → host                                        host → extension
//   {"type":"hello"}                                        {"type":"hello","version","phones":[…],"defaultPhone",
//                                                            "linkPhone"}
//   {"type":"check","id","kind","origin","options"}         {"type":"checked","id"} | error
//   {"type":"create"|"get","id","origin","options",         {"type":"qr","id","svg"}   (QR ceremonies)
//    "phone","link"}
//                                                           {"type":"stage","id","stage","detail"} …
//                                                           {"type":"notice","id","text"} …
//                                                           {"type":"result","id","credential"} | error
//   {"type":"cancel","id"}                                  (the ceremony ends with session.cancelled)
//   end of input (the browser closed the port)              the running ceremony is cancelled; exit
//   (settings that cannot be loaded: every message is answered with that error; exit 1 at the end)
//   error: {"type":"error","id","code","message","detail"}  (code: proto/error.hpp's stable names, or "busy")
//
// `origin` is the one the browser reported for the calling frame (the extension takes it from the
// message sender, never from the page); the Desktop façade builds clientDataJSON with it and
// applies the browser's origin and RP ID rules (webauthn/origin.hpp). A missing rp.id / rpId is the
// origin's host, as in a browser. The QR code goes to the extension as an SVG document rendered by
// qr/ (libqrencode); the FIDO:/ URL itself is never sent, logged or put on a command line.
//
// Configuration: the desktop settings the bridges share (hybrid::load_desktop_config: the config
// file and the HYBRIDGATE_* environment overrides); its `phone` is not used unasked: it is listed
// first in the dialog ("defaultPhone"), and the person chooses. `phone` names a remembered phone (no QR code); `link`
// true offers linking in the QR code, and a phone that agrees is remembered (the links file of the
// settings). HYBRIDGATE_NATIVE_HOST_LOG names a file for a
// diagnostic log (the browser hides the host's standard error); it never holds secrets.
//
// Why the C++ façade and not the C ABI: this bridge lives in the repository and needs the qr/
// renderer (SVG) and the origin parser beside hybrid::Desktop; the C ABI offers neither.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "hybrid/desktop.hpp"
#include "webauthn/origin.hpp"
#include "hybrid/settings.hpp"
#include "webauthn/webauthn.hpp"
#include "messaging.hpp"
#include "qr/render.hpp"
#include "web/probe.hpp"

namespace {

using nlohmann::json;
using namespace hg;

// A diagnostic log in the file HYBRIDGATE_NATIVE_HOST_LOG names (else nothing).
class Log {
 public:
  Log() {
    if (const char* p = std::getenv("HYBRIDGATE_NATIVE_HOST_LOG"); p && *p) file_.open(p, std::ios::app);
  }
  void operator()(const std::string& line) {
    if (!file_) return;
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    file_ << now.count() / 1000 << "." << now.count() % 1000 << " [" << ::getpid() << "] " << line << std::endl;
  }

 private:
  std::ofstream file_;
  std::mutex mutex_;
};

struct Settings {
  hybrid::DesktopConfig desktop;
  std::string default_phone;  // listed first in the dialog; the person still chooses
};

// The desktop settings every bridge shares (hybrid/settings.hpp: config file, HYBRIDGATE_*).
Result<Settings> load_settings(Log& log) {
  HG_TRY(auto config, hybrid::load_desktop_config());
  Settings s;
  s.default_phone = config.phone;
  config.phone.clear();  // the person's choice in the dialog decides: QR code or a remembered phone
  config.radio.notice = [&log](const std::string& sentence) { log("radio: " + sentence); };
  s.desktop = std::move(config);
  return s;
}

json error_message(const json& id, const Error& e) {
  return {{"type", "error"}, {"id", id}, {"code", e.name()}, {"message", e.sentence()}, {"detail", e.detail}};
}

// The options text as the façade takes it, with a browser's default RP ID (the origin's host).
Result<std::string> options_with_rp_id(const json& options, const std::string& kind, const std::string& origin) {
  if (!options.is_object()) return make_error(Errc::invalid_argument, "options must be an object");
  HG_TRY(auto o, webauthn::parse_origin(origin));
  json copy = options;
  json& target = copy.contains("publicKey") && copy["publicKey"].is_object() ? copy["publicKey"] : copy;
  if (kind == "create") {
    if (!target.contains("rp")) target["rp"] = json::object();
    if (target["rp"].is_object() && !target["rp"].contains("id")) target["rp"]["id"] = o.host;
  } else if (!target.contains("rpId")) {
    target["rpId"] = o.host;
  }
  return copy.dump();
}

// Everything a browser checks before showing any UI: the options parse, the origin and RP ID fit.
Status check_request(const std::string& kind, const std::string& text, const std::string& origin) {
  if (kind == "create") {
    HG_TRY(auto o, webauthn::parse_creation_options(text));
    HG_TRY(auto p, webauthn::prepare(o, origin));
  } else {
    HG_TRY(auto o, webauthn::parse_request_options(text));
    HG_TRY(auto p, webauthn::prepare(o, origin));
  }
  return ok_status();
}

class Host {
 public:
  Host(Settings settings, Log& log) : settings_(std::move(settings)), log_(log) {}
  ~Host() { finish(); }

  // Handles one message; false ends the host.
  bool handle(const json& m) {
    const std::string type = m.value("type", "");
    const json id = m.value("id", json(nullptr));
    if (type == "hello") {
      hello();
    } else if (type == "check" || type == "create" || type == "get") {
      const std::string kind = type == "check" ? m.value("kind", "") : type;
      const std::string origin = m.value("origin", "");
      if (kind != "create" && kind != "get") {
        send(error_message(id, make_error(Errc::invalid_argument, "kind must be create or get")));
        return true;
      }
      auto text = options_with_rp_id(m.value("options", json(nullptr)), kind, origin);
      if (text) {
        if (auto st = check_request(kind, *text, origin); !st) text = st.error();
      }
      if (!text) {
        log_("refused " + kind + " for " + origin + ": " + text.error().to_string());
        send(error_message(id, text.error()));
      } else if (type == "check") {
        send({{"type", "checked"}, {"id", id}});
      } else {
        start(id, kind, origin, std::move(*text), m.value("phone", ""), m.value("link", false));
      }
    } else if (type == "cancel") {
      std::lock_guard lock(mutex_);
      if (running_ && running_id_ == id) {
        log_("cancel requested by the browser");
        running_->cancel();
      }
    } else {
      send(error_message(id, make_error(Errc::invalid_argument, "unknown message type")));
    }
    return true;
  }

  // An error answer (through the one writer the ceremony thread shares).
  void refuse(const json& id, const Error& e) { send(error_message(id, e)); }

  // The browser closed the port (tab closed, navigation, extension gone): cancel and wait.
  void finish() {
    {
      std::lock_guard lock(mutex_);
      if (running_) {
        log_("the browser closed the port: cancelling the ceremony");
        running_->cancel();
      }
    }
    if (worker_.joinable()) worker_.join();
  }

 private:
  void send(const json& m) {
    if (auto st = out_.write(m); !st) log_("cannot write to the browser: " + st.error().to_string());
  }

  void hello() {
    hybrid::Desktop d(settings_.desktop);
    json phones = json::array();
    if (auto list = d.phones()) {
      for (const auto& p : *list) phones.push_back({{"name", p.name}, {"created", p.created}});
    } else {
      log_("cannot read the remembered phones: " + list.error().to_string());
    }
    send({{"type", "hello"}, {"version", HYBRIDGATE_VERSION}, {"phones", phones},
          {"defaultPhone", settings_.default_phone}, {"linkPhone", settings_.desktop.link_phone}});
  }

  void start(const json& id, const std::string& kind, const std::string& origin, std::string text, std::string phone,
             bool link) {
    std::unique_lock lock(mutex_);
    if (running_) {
      lock.unlock();
      send({{"type", "error"}, {"id", id}, {"code", "busy"},
            {"message", "Another ceremony of this browser is still running."}, {"detail", ""}});
      return;
    }
    if (worker_.joinable()) worker_.join();  // the previous one has ended (running_ is null)
    hybrid::DesktopConfig config = settings_.desktop;
    config.link_phone = config.link_phone || link;
    running_ = std::make_shared<hybrid::Desktop>(std::move(config));
    running_id_ = id;
    auto desktop = running_;
    log_("start " + kind + " for " + origin +
         (phone.empty() ? (link ? " (QR code, offering to remember the phone)" : " (QR code)") : " (remembered phone)"));
    worker_ = std::thread([this, desktop, id, kind, origin, text = std::move(text), phone = std::move(phone)] {
      run(*desktop, id, kind, origin, text, phone);
    });
  }

  void run(hybrid::Desktop& desktop, const json& id, const std::string& kind, const std::string& origin,
           const std::string& text, const std::string& phone) {
    std::optional<Error> qr_error;
    // A QR ceremony on a configured relay: once the QR code is shown (the call is running, so a
    // cancel reaches it), the relay is probed (web/probe.hpp): a relay that is down is named
    // within the connect deadline rather than after the wait for the phone's advert.
    std::optional<Error> relay_error;
    web::RelayProbe probe;
    std::thread prober;
    auto start_probe = [&] {
      if (prober.joinable() || !phone.empty() || settings_.desktop.tunnel_url.empty()) return;
      prober = std::thread([&] {
        auto st = probe.run(settings_.desktop.tunnel_url, settings_.desktop.deadlines.connect);
        if (!st && st.error().code != Errc::session_cancelled) {
          log_("relay probe: " + st.error().to_string());
          relay_error = st.error();
          desktop.cancel();
        }
      });
    };
    hybrid::DesktopCallbacks cb;
    cb.qr = [&](const std::string& url) {  // (the Desktop wrote qr_url_file, if configured)
      start_probe();
      auto matrix = qr::encode(url);
      if (!matrix) {
        qr_error = matrix.error();
        desktop.cancel();
        return;
      }
      send({{"type", "qr"}, {"id", id}, {"svg", qr::to_svg(*matrix)}});
    };
    cb.stage = [&](hybrid::Stage s, const std::string& detail) {
      log_("stage " + std::string(hybrid::to_string(s)) + (detail.empty() ? "" : " (" + detail + ")"));
      send({{"type", "stage"}, {"id", id}, {"stage", hybrid::to_string(s)}, {"detail", detail}});
    };
    cb.notice = [&](const std::string& sentence) {
      log_("notice: " + sentence);
      send({{"type", "notice"}, {"id", id}, {"text", sentence}});
    };
    auto cred = kind == "create" ? desktop.create(text, origin, cb, phone) : desktop.get(text, origin, cb, phone);
    if (prober.joinable()) {
      probe.stop();
      prober.join();
    }
    if (qr_error) cred = *qr_error;
    if (relay_error && !cred) cred = *relay_error;
    {
      std::lock_guard lock(mutex_);
      running_.reset();
    }
    if (cred) {
      log_(kind + " done");
      send({{"type", "result"}, {"id", id}, {"credential", *cred}});
    } else {
      log_(kind + " failed: " + cred.error().to_string());
      send(error_message(id, cred.error()));
    }
  }

  Settings settings_;
  Log& log_;
  bridge::Writer out_{STDOUT_FILENO};
  std::mutex mutex_;
  std::shared_ptr<hybrid::Desktop> running_;
  json running_id_;
  std::thread worker_;
};

}  // namespace

int main(int argc, char** argv) {
  // Browsers pass the manifest path (Firefox, Chromium) and the extension ID or origin; a person
  // running it by hand gets a sentence instead of a silent wait.
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "--version")) {
    std::printf("hybridgate-native-host %s: the native messaging host of the hybridgate browser extension.\n"
                "Browsers start it; see hybridgate-native-host(1) and docs/firefox.md.\n\n"
                "Usage: hybridgate-native-host [MANIFEST-PATH [EXTENSION-ID]]\n"
                "       hybridgate-native-host --help | --version\n", HYBRIDGATE_VERSION);
    return 0;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a closed port is a write error, not a signal
  Log log;
  auto settings = load_settings(log);
  if (!settings) {
    // Every message gets the error (browsers may drop what a host writes just before it exits),
    // so the extension can show it; exit 1 when the browser closes the port.
    log("configuration: " + settings.error().to_string());
    bridge::Writer out(STDOUT_FILENO);
    for (;;) {
      auto m = bridge::read_message(STDIN_FILENO);
      if (!m || !*m) return 1;
      const json id = (*m)->contains("id") ? (**m)["id"] : json(nullptr);
      (void)out.write(error_message(id, settings.error()));
    }
  }
  log("started");
  Host host(std::move(*settings), log);
  for (;;) {
    auto m = bridge::read_message(STDIN_FILENO);
    if (!m) {
      log("reading from the browser: " + m.error().to_string());
      break;
    }
    if (!*m) break;  // the browser closed the port
    try {
      if (!host.handle(**m)) break;
    } catch (const nlohmann::json::exception&) {  // a member of the wrong JSON type
      const json& msg = **m;
      const json id = msg.contains("id") && msg["id"].is_string() ? msg["id"] : json(nullptr);
      host.refuse(id, make_error(Errc::invalid_argument, "a member of the message has the wrong type"));
    }
  }
  host.finish();
  log("exit");
  return 0;
}
