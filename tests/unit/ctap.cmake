# SPDX-License-Identifier: Apache-2.0
# CTAP2 codecs, the software authenticator and the file credential store (included from
# tests/unit/CMakeLists.txt).
add_executable(test_ctap test_ctap.cpp test_authenticator.cpp test_prf.cpp test_file_store.cpp)
target_compile_definitions(test_ctap PRIVATE HG_VECTORS_PATH="${HG_VECTORS}")
target_include_directories(test_ctap PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test_ctap PRIVATE hg_store hg_proto Catch2::Catch2WithMain nlohmann_json::nlohmann_json hg_warnings)
catch_discover_tests(test_ctap TEST_PREFIX "unit.ctap." EXTRA_ARGS -w NoTests)

# A real WebAuthn verifier (python3-fido2) must accept what the software authenticator makes,
# and reject it once a signature or clientDataJSON byte is altered.
add_executable(make_webauthn_sample ${PROJECT_SOURCE_DIR}/tests/tools/make_webauthn_sample.cpp)
target_include_directories(make_webauthn_sample PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(make_webauthn_sample PRIVATE hg_webauthn hg_proto nlohmann_json::nlohmann_json hg_warnings)
if(NOT DEFINED HG_PYTHON)
  set(HG_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with python3-fido2 (Debian's)")
endif()
add_test(NAME webauthn.verifier_accepts_software_authenticator
  COMMAND ${HG_PYTHON} ${PROJECT_SOURCE_DIR}/tests/tools/webauthn_selftest.py
    --sample $<TARGET_FILE:make_webauthn_sample>
    --verifier ${PROJECT_SOURCE_DIR}/tests/tools/webauthn_verify.py
    --workdir ${CMAKE_CURRENT_BINARY_DIR}/webauthn_selftest)
