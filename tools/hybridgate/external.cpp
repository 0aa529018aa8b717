// SPDX-License-Identifier: Apache-2.0
// `hybridgate pam enroll …` and `hybridgate key …`: git-style dispatch to the programs their bridges
// build (bridges/pam: hybridgate-pam-enroll, bridges/key: hybridgate-key), so the CLI includes and
// links no bridge. The arguments after the command go to the program unchanged (including --help,
// which the program answers), and the program replaces this process (same pid, same exit status,
// signals go to it). Where the program is looked for: $HYBRIDGATE_LIBEXEC_DIR, beside this
// executable (a build tree's bin/), then PREFIX/libexec/hybridgate wherever the prefix was moved,
// then the configured libexec directory.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "commands.hpp"

#ifndef HG_LIBEXEC_DIR
#define HG_LIBEXEC_DIR "/usr/libexec/hybridgate"
#endif
#ifndef HG_LIBEXEC_DIR_NAME
#define HG_LIBEXEC_DIR_NAME "libexec"
#endif

namespace hgcli {

std::filesystem::path find_program(const std::string& name) {
  if (const char* dir = std::getenv("HYBRIDGATE_LIBEXEC_DIR"); dir && *dir) return std::filesystem::path(dir) / name;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& near : {self.parent_path() / name,
                             self.parent_path().parent_path() / HG_LIBEXEC_DIR_NAME / "hybridgate" / name}) {
      if (::access(near.c_str(), X_OK) == 0) return near;
    }
  }
  return std::filesystem::path(HG_LIBEXEC_DIR) / name;
}

namespace {

// Replaces this process with `program`, argv[0] = its name, then `args`. Returns only on failure.
int exec_program(const std::string& program, const std::vector<std::string>& args, const char* who) {
  const auto path = find_program(program);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::cout.flush();
  std::cerr.flush();
  ::execv(path.c_str(), argv.data());
  const int e = errno;
  return fail(hg::make_error(hg::Errc::io, "cannot run " + path.string() + ": " + std::strerror(e) +
                                               " (is hybridgate installed completely?)"),
              who);
}

// A subcommand that hands everything after it to `program`.
CLI::App* add_dispatch(CLI::App& parent, const char* name, const char* description, const char* program,
                       const char* who, int& exit_code) {
  auto* sub = parent.add_subcommand(name, description);
  sub->prefix_command();      // everything after it, positional or not, is the program's
  sub->allow_extras();
  sub->set_help_flag();       // --help too: the program prints its own options
  sub->callback([sub, program, who, &exit_code] {
    exit_code = exec_program(program, sub->remaining(), who);
  });
  return sub;
}

}  // namespace

void add_pam(CLI::App& app, int& exit_code) {
  auto* pam = app.add_subcommand("pam", "Sign in to this computer (sudo, login, ssh) with the phone: pam_hybridgate.so");
  pam->require_subcommand(1);
  add_dispatch(*pam, "enroll", "Register a passkey on the phone and add it to the PAM authfile (runs hybridgate-pam-enroll)",
               "hybridgate-pam-enroll", "hybridgate pam enroll", exit_code);
}

void add_key(CLI::App& app, int& exit_code) {
  add_dispatch(app, "key",
               "Be a FIDO security key (CTAP-HID over /dev/uhid) whose credentials live on the phone (runs hybridgate-key)",
               "hybridgate-key", "hybridgate key", exit_code);
}

}  // namespace hgcli
