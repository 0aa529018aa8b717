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

# hg_write_link_graph(FILE): every target of this project (tests/ excepted) with the targets it
# links, one "target TYPE: dep;dep" line each, for tests/repo/arrows.py (the CMake side of the arrows).
function(_hg_collect_targets dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    if(NOT sub MATCHES "/tests(/|$)")
      _hg_collect_targets(${sub} more)
      list(APPEND targets ${more})
    endif()
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()
function(hg_write_link_graph file)
  _hg_collect_targets(${PROJECT_SOURCE_DIR} targets)
  set(text "")
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    set(links "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(links ${t} LINK_LIBRARIES)
    endif()
    get_target_property(ilinks ${t} INTERFACE_LINK_LIBRARIES)
    set(all "")
    foreach(l IN LISTS links ilinks)
      if(l AND NOT l MATCHES "NOTFOUND$")
        list(APPEND all ${l})
      endif()
    endforeach()
    string(APPEND text "${t} ${type}: ${all}\n")
  endforeach()
  file(WRITE ${file} "${text}")
endfunction()
