// SPDX-License-Identifier: Apache-2.0
// `hybridgate inspect …` and `hybridgate qr render …`: look inside QR codes, adverts, domains and
// digit strings, for people debugging a ceremony and for scripts. JSON on stdout.
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <iostream>

#include "commands.hpp"
#include "proto/derive.hpp"
#include "proto/digits.hpp"
#include "proto/domains.hpp"
#include "proto/eid.hpp"
#include "proto/qr_payload.hpp"
#include "qr/render.hpp"

namespace hgcli {
namespace {

using nlohmann::json;

template <typename T>
json opt_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

int inspect_qr(const std::string& url) {
  auto p = hg::qr_payload::parse_url(url);
  if (!p) return print_error(p.error());
  json request_type = nullptr;
  if (p->request_type) request_type = std::string(hg::qr_payload::to_string(p->request_type_or_default()));
  json j = {
      {"public_key", hg::hex_encode(p->public_key)},
      {"qr_secret", hg::hex_encode(p->secret)},
      {"known_domains", opt_json(p->known_domains)},
      {"timestamp", opt_json(p->timestamp)},
      {"supports_linking", opt_json(p->supports_linking)},
      {"request_type", request_type},
      {"tunnel_id", hg::hex_encode(hg::derive_tunnel_id(p->secret), true)},
  };
  if (p->request_type && *p->request_type != hg::qr_payload::to_string(p->request_type_or_default()))
    j["request_type_raw"] = *p->request_type;
  print_json(j);
  return 0;
}

int inspect_advert(const std::string& qr, const std::string& secret_hex, const std::string& advert_hex) {
  hg::Bytes secret;
  if (!qr.empty()) {
    auto p = hg::qr_payload::parse_url(qr);
    if (!p) return print_error(p.error());
    secret.assign(p->secret.begin(), p->secret.end());
  } else {
    auto s = hg::hex_decode(secret_hex);
    if (!s) return print_error(s.error());
    if (s->size() != 16 && s->size() != 32)
      return print_error("invalid_argument", "--secret must be a 16-byte QR secret or a 32-byte link secret (hex)");
    secret = std::move(s).value();
  }
  auto advert = hg::hex_decode(advert_hex);
  if (!advert) return print_error(advert.error());
  auto key = hg::derive_eid_key(secret);
  auto plain = hg::eid::decrypt(*advert, key);
  hg::secure_wipe(key);
  if (!plain) {
    std::string reason(plain.error().sentence());
    if (!plain.error().detail.empty()) reason += " (" + plain.error().detail + ")";
    print_json({{"match", false}, {"reason", reason}, {"code", plain.error().name()}});
    return 1;
  }
  auto c = hg::eid::to_components(*plain);  // validated by decrypt
  auto domain = hg::tunnel_domain::name(c->domain_id);
  const auto tid = hg::derive_tunnel_id(secret);
  json j = {
      {"match", true},
      {"eid", hg::hex_encode(*plain)},
      {"routing_id", hg::hex_encode(c->routing_id, true)},
      {"domain_id", c->domain_id},
      {"domain", domain ? json(*domain) : json(nullptr)},
      {"tunnel_id", hg::hex_encode(tid, true)},
      {"connect_url", domain ? json(hg::tunnel_domain::connect_url(*domain, c->routing_id, tid)) : json(nullptr)},
  };
  hg::secure_wipe(secret);
  print_json(j);
  return 0;
}

int inspect_domain(const std::string& id_text) {
  char* end = nullptr;
  errno = 0;
  unsigned long id = std::strtoul(id_text.c_str(), &end, 0);
  if (id_text.empty() || *end != '\0' || errno != 0 || id > 0xffff || id_text[0] == '-')
    return print_error("invalid_argument", "the domain ID must be an integer from 0 to 65535");
  auto name = hg::tunnel_domain::name(uint16_t(id));
  if (!name) return print_error(name.error());
  print_json({{"domain_id", id}, {"domain", *name}});
  return 0;
}

int inspect_digits(const std::string& encode_hex, const std::string& decode_digits, bool has_encode) {
  if (has_encode) {
    auto b = hg::hex_decode(encode_hex);
    if (!b) return print_error(b.error());
    print_json({{"digits", hg::digits::encode(*b)}});
    return 0;
  }
  auto b = hg::digits::decode(decode_digits);
  if (!b) return print_error(b.error());
  print_json({{"hex", hg::hex_encode(*b)}});
  return 0;
}

bool write_file(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), std::streamsize(n));
  return bool(f);
}

int qr_render(const std::string& url, const std::string& png, const std::string& svg, bool dark_on_light) {
  auto p = hg::qr_payload::parse_url(url);
  if (!p) return print_error(p.error());
  auto m = hg::qr::encode(url);
  if (!m) return print_error(m.error());
  if (!png.empty()) {
    auto bytes = hg::qr::to_png(*m);
    if (!bytes) return print_error(bytes.error());
    if (!write_file(png, bytes->data(), bytes->size())) return print_error("io", "cannot write " + png);
  }
  if (!svg.empty()) {
    auto text = hg::qr::to_svg(*m);
    if (!write_file(svg, text.data(), text.size())) return print_error("io", "cannot write " + svg);
  }
  if (png.empty() && svg.empty()) std::cout << hg::qr::to_terminal(*m, {.quiet_zone = 2, .light_on_dark = !dark_on_light});
  return 0;
}

}  // namespace

struct InspectOptions {
  std::string qr_url, advert_qr, advert_secret, advert_hex, domain_id, digits_encode, digits_decode;
};
struct RenderOptions {
  std::string url, png, svg;
  bool dark_on_light = false;
};

void add_inspect(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<InspectOptions>();
  auto* inspect = app.add_subcommand("inspect", "Decode a QR code, an advert, a domain ID or a digit string (JSON output)");
  inspect->require_subcommand(1);

  auto* qr = inspect->add_subcommand("qr", "Decode a FIDO:/ QR code URL");
  qr->add_option("url", o->qr_url, "The FIDO:/… text of the QR code")->required();
  qr->callback([&exit_code, o] { exit_code = inspect_qr(o->qr_url); });

  auto* advert = inspect->add_subcommand("advert", "Trial-decrypt a BLE advert (service data) with a QR code's key");
  auto* oq = advert->add_option("--qr", o->advert_qr, "The FIDO:/… QR code the advert should answer");
  auto* os = advert->add_option("--secret", o->advert_secret, "The QR secret (16 bytes) or link secret (32 bytes), hex");
  oq->excludes(os);
  advert->add_option("--advert", o->advert_hex, "The service data, hex (20 bytes or more)")->required();
  advert->callback([&exit_code, o, oq, os] {
    if (oq->count() == 0 && os->count() == 0) {
      exit_code = print_error("invalid_argument", "give --qr or --secret");
      return;
    }
    exit_code = inspect_advert(o->advert_qr, o->advert_secret, o->advert_hex);
  });

  auto* domain = inspect->add_subcommand("domain", "Name of the tunnel server for a domain ID (0, 1, or 256-65535)");
  domain->add_option("id", o->domain_id, "Domain ID")->required();
  domain->callback([&exit_code, o] { exit_code = inspect_domain(o->domain_id); });

  auto* dig = inspect->add_subcommand("digits", "The QR code's base-10 encoding, both ways");
  auto* oe = dig->add_option("--encode", o->digits_encode, "Bytes to encode, hex");
  auto* od = dig->add_option("--decode", o->digits_decode, "Digits to decode");
  oe->excludes(od);
  dig->callback([&exit_code, o, oe, od] {
    if (oe->count() == 0 && od->count() == 0) {
      exit_code = print_error("invalid_argument", "give --encode HEX or --decode DIGITS");
      return;
    }
    exit_code = inspect_digits(o->digits_encode, o->digits_decode, oe->count() > 0);
  });
}

void add_qr(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RenderOptions>();
  auto* qr = app.add_subcommand("qr", "QR code utilities");
  qr->require_subcommand(1);
  auto* render = qr->add_subcommand("render", "Draw a FIDO:/ URL as a QR code (terminal text by default)");
  render->add_option("url", o->url, "The FIDO:/… text")->required();
  render->add_option("--png", o->png, "Write a PNG file");
  render->add_option("--svg", o->svg, "Write an SVG file");
  render->add_flag("--dark-on-light", o->dark_on_light, "Terminal: draw dark modules as blocks (for light terminal backgrounds)");
  render->callback([&exit_code, o] { exit_code = qr_render(o->url, o->png, o->svg, o->dark_on_light); });
}

}  // namespace hgcli
