// SPDX-License-Identifier: Apache-2.0
// Subcommand registration for the hybridgate CLI. Each add_* function registers its CLI11
// subcommand(s) and sets a callback that stores the exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "proto/error.hpp"

namespace hgcli {

void add_inspect(CLI::App& app, int& exit_code);
void add_qr(CLI::App& app, int& exit_code);
void add_doctor(CLI::App& app, int& exit_code);
void add_ceremonies(CLI::App& app, int& exit_code);
void add_pam(CLI::App& app, int& exit_code);  // external.cpp: `hybridgate pam enroll` runs hybridgate-pam-enroll
void add_key(CLI::App& app, int& exit_code);
// Where a helper program of a bridge is (external.cpp): $HYBRIDGATE_LIBEXEC_DIR, beside this
// program, PREFIX/libexec/hybridgate, the configured libexec directory.
std::filesystem::path find_program(const std::string& name);  // external.cpp: `hybridgate key` runs hybridgate-key

// Prints {"error": {"code", "message"}} to stdout and returns the exit code 1.
int print_error(const hg::Error& e);
int print_error(std::string_view code, const std::string& message);
void print_json(const nlohmann::json& j);
// A failed command: the error as a sentence on stderr ("WHO: sentence (detail) [code]") and as
// JSON on stdout (print_error); returns the exit code, 130 when the person interrupted it.
int fail(const hg::Error& e, std::string_view who = "hybridgate");

// CLI11 checks for the flags that set a shared setting (hybrid/settings.hpp's checks): a bad
// value is a usage error (exit 2) before anything starts: no QR code, no radio, no network.
const CLI::Validator& tunnel_url_check();
const CLI::Validator& ca_file_check();
const CLI::Validator& qr_url_file_check();
// An error the person fixes in the command line, the config file or the environment
// (config.invalid) exits 2 like a bad flag; anything else as fail() says.
int fail_config(const hg::Error& e, std::string_view who = "hybridgate");

}  // namespace hgcli
