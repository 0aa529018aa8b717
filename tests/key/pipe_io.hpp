// SPDX-License-Identifier: Apache-2.0
// Whole reads and writes on a pipe for the test devices that stand in for /dev/uhid
// (tests/key/key_pipe_device.cpp, tests/key-window/window_device.cpp).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace hg::test {

// Reads exactly n bytes; false at end of input or on an error.
inline bool read_full(int fd, uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

// Writes all n bytes; gives up when the reader is gone (its end of input follows).
inline void write_full(int fd, const uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = ::write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    p += r;
    n -= size_t(r);
  }
}

}  // namespace hg::test
