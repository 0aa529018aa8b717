// SPDX-License-Identifier: Apache-2.0
// The C++ API from an install prefix (hybridgate::cxx): one desktop ceremony with
// hg::hybrid::Desktop, the same command line and output as ../consumer.c's create/get (blocking).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "hybrid/desktop.hpp"

namespace {

std::string arg(int argc, char** argv, const std::string& name) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::string(argv[1]) != "create" && std::string(argv[1]) != "get")) {
    std::cerr << "usage: consumer_cxx create|get --tunnel-url URL --origin O --options FILE --qr-file FILE\n";
    return 2;
  }
  const bool create = std::string(argv[1]) == "create";
  std::ifstream in(arg(argc, argv, "--options"));
  std::stringstream options;
  options << in.rdbuf();
  const std::string qr_file = arg(argc, argv, "--qr-file");

  hg::hybrid::DesktopConfig config;
  config.tunnel_url = arg(argc, argv, "--tunnel-url");
  config.radio.kind = hg::ble::RadioKind::loopback;
  hg::hybrid::Desktop desktop(config);

  hg::hybrid::DesktopCallbacks callbacks;
  callbacks.qr = [&](const std::string& url) {
    std::ofstream(qr_file + ".tmp") << url;
    std::filesystem::rename(qr_file + ".tmp", qr_file);
  };
  callbacks.stage = [](hg::hybrid::Stage s, const std::string&) { std::cerr << "stage " << to_string(s) << "\n"; };
  const std::string origin = arg(argc, argv, "--origin");
  auto r = create ? desktop.create(options.str(), origin, callbacks) : desktop.get(options.str(), origin, callbacks);
  if (!r.ok()) {
    std::string message(r.error().sentence());
    if (!r.error().detail.empty()) message += " (" + r.error().detail + ")";
    std::cout << nlohmann::json{{"error", {{"code", r.error().name()}, {"message", message}}}}.dump() << "\n";
    return 1;
  }
  std::cout << r->dump() << "\n";
  return 0;
}
