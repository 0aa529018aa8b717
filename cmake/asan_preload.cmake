# SPDX-License-Identifier: Apache-2.0
# For tests that run uninstrumented programs (pamtester, ssh, python3) which load our instrumented
# code: in the HG_SANITIZE build, the sanitizer runtime has to be loaded into them first.
#
# hg_asan_preload_env(<out-var> <env-name> [<more ENVIRONMENT entries>...])
#   HG_SANITIZE: <out-var> = "<env-name>=<the compiler's libasan.so>;<more entries>" (a list for
#   the ENVIRONMENT test property); otherwise empty. <env-name> is LD_PRELOAD itself, or a variable
#   the test script reads to preload only the programs that need it.
include_guard(GLOBAL)

function(hg_asan_preload_env out name)
  set(env "")
  if(HG_SANITIZE)
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libasan.so
                    OUTPUT_VARIABLE asan OUTPUT_STRIP_TRAILING_WHITESPACE)
    # libstdc++ too, when the host program is C (ssh-sk-helper, pamtester): the runtime finds the
    # real __cxa_throw at start-up only if libstdc++ is loaded by then; otherwise the first C++
    # exception in the instrumented module aborts with "real___cxa_throw != 0".
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so.6
                    OUTPUT_VARIABLE stdcxx OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(env "${name}=${asan}:${stdcxx}" ${ARGN})
  endif()
  set(${out} "${env}" PARENT_SCOPE)
endfunction()
