// SPDX-License-Identifier: Apache-2.0
// hybridgate-key-show: shows one QR code in the security key daemon's window, for programs that
// must not link the key bridge (the hybridgate CLI's register/sign-in --no-terminal-qr). A
// helper in LIBEXECDIR/hybridgate, run per QR code:
//
//   hybridgate-key-show --available      exit 0 when a daemon holds org.hybridgate.Key1, else 1
//   hybridgate-key-show RP_ID ACCOUNT    reads the FIDO:/ URL (a secret: never in argv) as the
//                                        first line of stdin, shows it through the daemon
//                                        (bus_client.hpp) and prints "shown" or "unavailable: WHY";
//                                        prints "cancelled" when the person presses Cancel; closes
//                                        the window and exits 0 when stdin reaches its end (the
//                                        caller closes it once the phone has connected, or exits).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "bridges/key/bus_client.hpp"

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--available") return hg::key::KeyWindowClient::available() ? 0 : 1;
  if (argc != 3) {
    std::cerr << "usage: hybridgate-key-show --available | RP_ID ACCOUNT  (the URL on stdin)\n";
    return 2;
  }
  std::string url;
  if (!std::getline(std::cin, url) || url.empty()) {
    std::cerr << "hybridgate-key-show: no URL on stdin\n";
    return 2;
  }
  std::string why;
  auto window = hg::key::KeyWindowClient::show(argv[1], argv[2], url, [] {
    static const char line[] = "cancelled\n";
    [[maybe_unused]] auto n = ::write(STDOUT_FILENO, line, sizeof line - 1);
  }, &why);
  url.assign(url.size(), '\0');
  if (!window) {
    std::cout << "unavailable: " << why << std::endl;
    return 1;
  }
  std::cout << "shown" << std::endl;
  // Until the caller closes stdin: then the window closes (Close) as `window` goes.
  char buf[256];
  while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  return 0;
}
