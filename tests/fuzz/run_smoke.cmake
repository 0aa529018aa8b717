# SPDX-License-Identifier: Apache-2.0
# CTest driver of the fuzz tests.
#   Smoke:  cmake -DFUZZER=... -DSCRATCH=dir -DINPUTS="dir;dir" -DRUNS=N -P run_smoke.cmake
#           starts from an empty scratch corpus (so every run is the same), mutates from the
#           read-only seed directories, fails on any finding.
#   Replay: cmake -DFUZZER=... -DREPLAY=dir -P run_smoke.cmake
#           runs every file of dir once (no mutation); fails on a crash, a sanitizer report or
#           an input slower than -timeout.
# Short allocation stacks: with the default 30 frames, the recursive CBOR code makes ASan's stack
# depot grow with every new nesting pattern, until it dominates the run time (20x slower).
if(NOT DEFINED ENV{ASAN_OPTIONS})
  set(ENV{ASAN_OPTIONS} "malloc_context_size=8")
endif()
if(DEFINED REPLAY)
  file(GLOB files LIST_DIRECTORIES false ${REPLAY}/*)
  list(FILTER files EXCLUDE REGEX "README")
  if(NOT files)
    return()
  endif()
  execute_process(COMMAND ${FUZZER} -timeout=10 -rss_limit_mb=2048 ${files} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${FUZZER} failed (exit ${rc}) on a regression input of ${REPLAY}")
  endif()
  return()
endif()
file(REMOVE_RECURSE ${SCRATCH})
file(MAKE_DIRECTORY ${SCRATCH})
execute_process(
  COMMAND ${FUZZER} -runs=${RUNS} -max_len=4096 -rss_limit_mb=2048 -timeout=10 -seed=1
          -print_final_stats=1 -artifact_prefix=${SCRATCH}/ ${SCRATCH} ${INPUTS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); the crashing input is in ${SCRATCH}/")
endif()
