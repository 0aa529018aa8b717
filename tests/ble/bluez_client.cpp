// SPDX-License-Identifier: Apache-2.0
// A line-oriented driver of the BlueZ radio for the Python fixtures (tests/ble/test_bluez.py):
//
//   bluez_client probe [--adapter A] [--advertising]   → "OK <adapter>" | "ERROR <code> <detail>"
//   bluez_client scan [--adapter A]                    → "STARTED", then "SEEN <uuid> <hex> <device>"
//                                                         per advert; stdin "stop" → "STOPPED"
//   bluez_client advertise [--adapter A] --hex H       → "REGISTERED"; stdin "rotate <hex>" →
//                                                         "ROTATED"; stdin "stop" → "STOPPED"
// All through the public factories with RadioKind::bluez. Exit 0 unless the radio failed.
#pragma GCC diagnostic ignored "-Wnull-dereference"  // Asio 1.74 + g++ 12
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <cstdio>
#include <iostream>
#include <istream>
#include <string>

#include "ble/bluez.hpp"
#include "ble/radio.hpp"
#include "proto/derive.hpp"
#include "proto/eid.hpp"
#include "proto/qr_payload.hpp"

namespace asio = boost::asio;

namespace {

void say(const std::string& s) {
  std::cout << s << std::endl;  // flushed: the fixture reads line by line
}

int fail(const hg::Error& e) {
  say("ERROR " + std::string(e.name()) + " " + e.detail);
  return 3;
}

// Reads command lines from stdin on the io_context.
class Commands {
 public:
  Commands(asio::io_context& io, std::function<void(const std::string&)> on_line)
      : in_(io, ::dup(0)), on_line_(std::move(on_line)) {}
  void start() {
    asio::async_read_until(in_, buf_, '\n', [this](const boost::system::error_code& ec, std::size_t) {
      if (ec) {
        on_line_("stop");  // EOF: the fixture went away
        return;
      }
      std::istream is(&buf_);
      std::string line;
      std::getline(is, line);
      on_line_(line);
      if (!done) start();
    });
  }
  bool done = false;

 private:
  asio::posix::stream_descriptor in_;
  asio::streambuf buf_;
  std::function<void(const std::string&)> on_line_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bluez_client probe|scan|advertise [--adapter A] [--advertising] [--hex H]\n";
    return 2;
  }
  const std::string mode = argv[1];
  std::string adapter, hex;
  bool advertising = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--adapter" && i + 1 < argc) adapter = argv[++i];
    else if (a == "--hex" && i + 1 < argc) hex = argv[++i];
    else if (a == "--advertising") advertising = true;
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  hg::ble::RadioOptions opts;
  opts.kind = hg::ble::RadioKind::bluez;
  opts.adapter = adapter;
  asio::io_context io;

  if (mode == "make-advert") {  // --hex <QR URL>: an advert for that QR (routing 010203, domain 0)
    auto p = hg::qr_payload::parse_url(hex);
    if (!p) return fail(p.error());
    hg::eid::Components c;
    c.nonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    c.routing_id = {1, 2, 3};
    c.domain_id = 0;
    auto key = hg::derive_eid_key(p->secret);
    say(hg::hex_encode(hg::eid::encrypt(hg::eid::from_components(c), key)));
    return 0;
  }

  if (mode == "probe") {
    auto r = hg::ble::bluez::probe(adapter, advertising);
    if (!r) {
      fail(r.error());  // a fault is an answer here, not a failure of the driver
      return 0;
    }
    say("OK " + r->name);
    return 0;
  }

  if (mode == "scan") {
    auto sc = hg::ble::make_scanner(io, opts);
    if (!sc) return fail(sc.error());
    auto st = (*sc)->start([](const hg::ble::Advert& a) {
      char u[8];
      std::snprintf(u, sizeof u, "%04x", unsigned(a.uuid));
      say(std::string("SEEN ") + u + " " + hg::hex_encode(a.service_data) + " " + a.device);
    });
    if (!st) return fail(st.error());
    say("STARTED");
    Commands cmd(io, [&](const std::string& line) {
      if (line == "stop") {
        (*sc)->stop();
        say("STOPPED");
        io.stop();
      }
    });
    cmd.start();
    io.run();
    return 0;
  }

  if (mode == "advertise") {
    auto data = hg::hex_decode(hex);
    if (!data) return fail(data.error());
    auto adv = hg::ble::make_advertiser(io, opts);
    if (!adv) return fail(adv.error());
    auto st = (*adv)->start(*data);
    if (!st) return fail(st.error());
    say("REGISTERED");
    Commands cmd(io, [&](const std::string& line) {
      if (line.rfind("rotate ", 0) == 0) {
        auto d = hg::hex_decode(line.substr(7));
        auto r = d ? (*adv)->start(*d) : hg::Status(d.error());
        if (r) say("ROTATED");
        else fail(r.error());
      } else if (line == "stop") {
        (*adv)->stop();
        say("STOPPED");
        io.stop();
      }
    });
    cmd.start();
    io.run();
    return 0;
  }
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
