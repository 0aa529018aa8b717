// SPDX-License-Identifier: Apache-2.0
// hybridgate-key-window: the person's window of the security key (GTK 4). Started by
// `hybridgate key` (bridges/key/window.hpp) for each request that needs the phone; talks to it
// with JSON lines on standard input/output (a socket):
//   in   {"show": {"registration": b, "rp_id": s, "account": s, "phone": s, "phones": [s]}}
//        {"qr": "FIDO:/..."}      the QR code, rendered with the qr/ layer (never logged)
//        {"status": s}            a progress sentence
//        {"error": s}             the request failed: show why until the person closes the window
//        end of input             the request ended: exit at once (the window is gone with us),
//                                 unless an error is shown (then Close, Escape or 30 s)
//   out  {"shown": true}          the first frame is drawn
//        {"cancel": true}         Cancel or Escape
//        {"phone": s}             the person picked this remembered phone
// No GtkApplication: no D-Bus name and no single-instance logic, so it starts fast and exits
// the moment its input ends. docs/security-key.md ("The window").
#include <glib-unix.h>
#include <gtk/gtk.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "qr/render.hpp"

namespace {

constexpr size_t kMaxInput = 16384;  // one message; the QR URL is well under 1 KiB
constexpr unsigned kErrorLingerSeconds = 30;

struct Ui {
  GMainLoop* loop = nullptr;
  GtkWidget* window = nullptr;
  GtkWidget* heading = nullptr;
  GtkWidget* account = nullptr;
  GtkWidget* picture = nullptr;
  GtkWidget* instruction = nullptr;
  GtkWidget* status = nullptr;
  GtkWidget* phones_label = nullptr;
  GtkWidget* phones_box = nullptr;
  GtkWidget* cancel = nullptr;
  std::string input;
  bool error_shown = false;
  bool input_ended = false;
  std::string pending;  // announced ({"shown": pending}) after the next frame is drawn
  bool registration = false;
  std::string rp_id;
};

Ui ui;

void emit(const nlohmann::json& j) {
  std::string line = j.dump() + "\n";
  const char* p = line.data();
  size_t n = line.size();
  while (n) {
    ssize_t w = ::write(STDOUT_FILENO, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= size_t(w);
  }
}

void quit() { g_main_loop_quit(ui.loop); }

void set_text(GtkWidget* label, const std::string& text) {
  gtk_label_set_text(GTK_LABEL(label), text.c_str());
  gtk_widget_set_visible(label, !text.empty());
}

// Cancel, Escape or the window's close button.
void on_cancel() {
  if (ui.error_shown) {
    quit();
    return;
  }
  emit({{"cancel", true}});
  set_text(ui.status, "Cancelling…");
  gtk_widget_set_sensitive(ui.cancel, FALSE);
}

void on_cancel_clicked(GtkButton*, gpointer) { on_cancel(); }

gboolean on_close_request(GtkWindow*, gpointer) {
  on_cancel();
  return TRUE;  // the window stays until the daemon ends the request
}

gboolean on_escape(GtkWidget*, GVariant*, gpointer) {
  on_cancel();
  return TRUE;
}

void on_phone_clicked(GtkButton* button, gpointer) {
  const char* name = static_cast<const char*>(g_object_get_data(G_OBJECT(button), "phone"));
  if (!name) return;
  emit({{"phone", name}});
  gtk_widget_set_visible(ui.picture, FALSE);
  set_text(ui.instruction, std::string("Waking your phone “") + name + "”: unlock it and follow its prompt.");
}

// A state ("request", "error") is announced once a frame showing it has been drawn.
void after_paint(GdkFrameClock*, gpointer) {
  if (ui.pending.empty()) return;
  emit({{"shown", ui.pending}});
  ui.pending.clear();
}

void announce(const char* state) {
  ui.pending = state;
  gtk_widget_queue_draw(ui.window);
}

void on_map(GtkWidget* widget, gpointer) {
  GdkFrameClock* clock = gtk_widget_get_frame_clock(widget);
  if (clock) g_signal_connect(clock, "after-paint", G_CALLBACK(after_paint), nullptr);
}

void show_qr(const std::string& url) {
  auto m = hg::qr::encode(url);
  if (!m) return;
  auto png = hg::qr::to_png(*m, 6, 4);
  if (!png) return;
  GBytes* bytes = g_bytes_new(png->data(), png->size());
  GError* err = nullptr;
  GdkTexture* texture = gdk_texture_new_from_bytes(bytes, &err);
  g_bytes_unref(bytes);
  if (!texture) {
    if (err) g_error_free(err);
    return;
  }
  gtk_picture_set_paintable(GTK_PICTURE(ui.picture), GDK_PAINTABLE(texture));
  g_object_unref(texture);
  gtk_widget_set_visible(ui.picture, TRUE);
  set_text(ui.instruction, "Scan this QR code with your phone's camera, then follow the phone's prompt.");
}

void show_request(const nlohmann::json& s) {
  const bool registration = s.value("registration", false);
  const std::string rp = s.value("rp_id", std::string());
  const std::string account = s.value("account", std::string());
  const std::string phone = s.value("phone", std::string());
  ui.registration = registration;
  ui.rp_id = rp;
  set_text(ui.heading, registration ? "Create a passkey for " + rp : "Sign in to " + rp);
  set_text(ui.account, registration && !account.empty() ? "Account: " + account : "");
  if (!phone.empty())
    set_text(ui.instruction, "Waking your phone “" + phone + "”: unlock it and follow its prompt.");
  else
    set_text(ui.instruction, "Preparing the QR code…");
  GtkWidget* first = nullptr;
  if (auto it = s.find("phones"); it != s.end() && it->is_array()) {
    for (const auto& p : *it) {
      if (!p.is_string() || p.get<std::string>() == phone) continue;
      const std::string name = p.get<std::string>();
      GtkWidget* b = gtk_button_new_with_label(name.c_str());
      g_object_set_data_full(G_OBJECT(b), "phone", g_strdup(name.c_str()), g_free);
      const std::string a11y = "Use the remembered phone " + name;
      gtk_accessible_update_property(GTK_ACCESSIBLE(b), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y.c_str(), -1);
      g_signal_connect(b, "clicked", G_CALLBACK(on_phone_clicked), nullptr);
      gtk_box_append(GTK_BOX(ui.phones_box), b);
      if (!first) first = b;
    }
  }
  gtk_widget_set_visible(ui.phones_label, first != nullptr);
  gtk_widget_set_visible(ui.phones_box, first != nullptr);
  const std::string title = (registration ? "Create a passkey — " : "Sign in — ") + rp;
  gtk_window_set_title(GTK_WINDOW(ui.window), ("hybridgate security key: " + title).c_str());
  gtk_widget_grab_focus(first ? first : ui.cancel);
  ui.pending = "request";
  gtk_window_present(GTK_WINDOW(ui.window));  // once there is something to show
}

void show_error(const std::string& sentence) {
  ui.error_shown = true;
  gtk_window_set_title(GTK_WINDOW(ui.window), "hybridgate security key: the request failed");
  set_text(ui.heading, ui.registration ? "No passkey was created for " + ui.rp_id : "Could not sign in to " + ui.rp_id);
  set_text(ui.account, "");
  set_text(ui.instruction, sentence.empty() ? "The phone did not answer." : sentence);
  set_text(ui.status, "You can close this window and try again.");
  gtk_widget_set_visible(ui.picture, FALSE);
  gtk_widget_set_visible(ui.phones_label, FALSE);
  gtk_widget_set_visible(ui.phones_box, FALSE);
  gtk_button_set_label(GTK_BUTTON(ui.cancel), "Close");
  gtk_widget_set_sensitive(ui.cancel, TRUE);
  gtk_widget_grab_focus(ui.cancel);
  announce("error");
}

void handle(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return;
  if (auto it = j.find("show"); it != j.end() && it->is_object()) {
    show_request(*it);
  } else if (auto q = j.find("qr"); q != j.end() && q->is_string()) {
    show_qr(q->get<std::string>());
  } else if (auto st = j.find("status"); st != j.end() && st->is_string()) {
    set_text(ui.status, st->get<std::string>());
  } else if (auto e = j.find("error"); e != j.end() && e->is_string()) {
    show_error(e->get<std::string>());
  }
}

gboolean linger_done(gpointer) {
  quit();
  return G_SOURCE_REMOVE;
}

gboolean on_input(gint fd, GIOCondition, gpointer) {
  char buf[4096];
  ssize_t r = ::read(fd, buf, sizeof buf);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return G_SOURCE_CONTINUE;
  if (r <= 0) {
    ui.input_ended = true;
    if (ui.error_shown)
      g_timeout_add_seconds(kErrorLingerSeconds, linger_done, nullptr);
    else
      quit();
    return G_SOURCE_REMOVE;
  }
  ui.input.append(buf, size_t(r));
  size_t nl;
  while ((nl = ui.input.find('\n')) != std::string::npos) {
    handle(ui.input.substr(0, nl));
    ui.input.erase(0, nl + 1);
  }
  if (ui.input.size() > kMaxInput) ui.input.clear();
  return G_SOURCE_CONTINUE;
}

GtkWidget* label(const char* css_class) {
  GtkWidget* l = gtk_label_new(nullptr);
  gtk_label_set_wrap(GTK_LABEL(l), TRUE);
  gtk_label_set_max_width_chars(GTK_LABEL(l), 44);
  gtk_label_set_justify(GTK_LABEL(l), GTK_JUSTIFY_CENTER);
  if (css_class) gtk_widget_add_css_class(l, css_class);
  gtk_widget_set_visible(l, FALSE);
  return l;
}

void build() {
  ui.window = gtk_window_new();
  gtk_window_set_title(GTK_WINDOW(ui.window), "hybridgate security key");
  gtk_window_set_resizable(GTK_WINDOW(ui.window), FALSE);
  g_signal_connect(ui.window, "close-request", G_CALLBACK(on_close_request), nullptr);
  g_signal_connect(ui.window, "map", G_CALLBACK(on_map), nullptr);

  GtkWidget* box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
  gtk_widget_set_margin_top(box, 24);
  gtk_widget_set_margin_bottom(box, 24);
  gtk_widget_set_margin_start(box, 24);
  gtk_widget_set_margin_end(box, 24);
  ui.heading = label("title-2");
  ui.account = label(nullptr);
  ui.picture = gtk_picture_new();
  gtk_picture_set_can_shrink(GTK_PICTURE(ui.picture), FALSE);
  gtk_widget_set_halign(ui.picture, GTK_ALIGN_CENTER);
  gtk_widget_set_visible(ui.picture, FALSE);
  gtk_accessible_update_property(GTK_ACCESSIBLE(ui.picture), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                 "QR code for your phone", GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                 "Scan it with the phone's camera; it holds a one-time secret for this request.", -1);
  ui.instruction = label(nullptr);
  ui.status = label("dim-label");
  ui.phones_label = label(nullptr);
  gtk_label_set_text(GTK_LABEL(ui.phones_label), "Or use a remembered phone:");
  ui.phones_box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
  gtk_widget_set_visible(ui.phones_box, FALSE);
  gtk_accessible_update_property(GTK_ACCESSIBLE(ui.phones_box), GTK_ACCESSIBLE_PROPERTY_LABEL, "Remembered phones", -1);
  ui.cancel = gtk_button_new_with_mnemonic("_Cancel");
  gtk_widget_set_halign(ui.cancel, GTK_ALIGN_END);
  gtk_accessible_update_property(GTK_ACCESSIBLE(ui.cancel), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                 "Stop this request; the site is told that it was refused.", -1);
  g_signal_connect(ui.cancel, "clicked", G_CALLBACK(on_cancel_clicked), nullptr);
  for (GtkWidget* w : {ui.heading, ui.account, ui.picture, ui.instruction, ui.status, ui.phones_label, ui.phones_box,
                       ui.cancel})
    gtk_box_append(GTK_BOX(box), w);
  gtk_window_set_child(GTK_WINDOW(ui.window), box);

  GtkEventController* keys = gtk_shortcut_controller_new();
  gtk_shortcut_controller_add_shortcut(
      GTK_SHORTCUT_CONTROLLER(keys),
      gtk_shortcut_new(gtk_keyval_trigger_new(GDK_KEY_Escape, GdkModifierType(0)),
                       gtk_callback_action_new(on_escape, nullptr, nullptr)));
  gtk_widget_add_controller(ui.window, keys);
}

}  // namespace

int main() {
  // A small window: GTK's cairo renderer draws its first frame in about half the time the GL
  // renderer needs to set up its context (key-window-bench). The person's own choice wins.
  g_setenv("GSK_RENDERER", "cairo", FALSE);
  if (!gtk_init_check()) {
    std::fprintf(stderr, "hybridgate-key-window: no graphical session (DISPLAY/WAYLAND_DISPLAY)\n");
    return 1;
  }
  ui.loop = g_main_loop_new(nullptr, FALSE);
  build();
  g_unix_fd_add(STDIN_FILENO, GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR), on_input, nullptr);
  g_main_loop_run(ui.loop);
  // Exiting closes the display connection: the window is gone at once.
  return 0;
}
