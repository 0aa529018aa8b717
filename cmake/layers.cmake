# SPDX-License-Identifier: Apache-2.0
# Per-layer include roots (docs/architecture.md, "Layers and arrows").
#
# hg_layer_includes(TARGET FOLDER...) gives TARGET a public include directory of its own,
# build/layers/TARGET/, that holds only FOLDER (a link to the source folder). `#include "proto/x.hpp"`
# therefore resolves only in a target that links hg_proto (directly or through a layer above it):
# a target can include exactly the layers it links, and the links are the arrows that
# tests/repo/arrows.py checks. There is no repository-wide include directory.
function(hg_layer_includes target)
  set(root ${PROJECT_BINARY_DIR}/layers/${target})
  foreach(folder IN LISTS ARGN)
    get_filename_component(parent ${root}/${folder} DIRECTORY)
    file(MAKE_DIRECTORY ${parent})
    if(NOT IS_SYMLINK ${root}/${folder})
      file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${root}/${folder} SYMBOLIC)
    endif()
  endforeach()
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}>)
endfunction()
