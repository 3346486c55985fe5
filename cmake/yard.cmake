# Helper functions shared by every directory's CMakeLists.txt.

# yard_add_test(NAME <name> SOURCES <files...> [LIBS <libs...>] [LABELS <labels...>]
#               [TIMEOUT <seconds>])
# Builds one test executable and registers it with ctest. Each test is its own process,
# so a crash in one cannot hide another's result.
function(yard_add_test)
    cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 60)
    endif()
    add_executable(${T_NAME} ${T_SOURCES})
    foreach(src ${T_SOURCES})
        get_filename_component(src ${src} ABSOLUTE)
        set_property(GLOBAL APPEND PROPERTY YARD_TEST_SOURCES ${src})
    endforeach()
    target_link_libraries(${T_NAME} PRIVATE yard yard_testlib PkgConfig::CMOCKA ${T_LIBS})
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
    set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
        ENVIRONMENT "YARD_BIN_DIR=${CMAKE_BINARY_DIR}/bin;YARD_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()

# yard_add_program(NAME <name> SOURCES <files...> [LIBS <libs...>])
# A program is a thin main over libraries; all land in build/bin so tests find them.
function(yard_add_program)
    cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS" ${ARGN})
    add_executable(${P_NAME} ${P_SOURCES})
    target_link_libraries(${P_NAME} PRIVATE ${P_LIBS})
    set_target_properties(${P_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
    install(TARGETS ${P_NAME} RUNTIME DESTINATION bin)
endfunction()

# yard_actor(<name>)
# Builds in the actor in actors/<name>/: its CMakeLists.txt adds its sources to yard_actors
# (target_sources) and registers its tests; its descriptor is `yard_actor_<name>`, defined in
# one of those sources, and <name> is its service name. yard_actors_registry() then lists
# every actor named so far in the generated registry, so a folder plus this one line is all a
# new in-tree actor needs.
macro(yard_actor name)
    if(NOT "${name}" MATCHES "^[a-z][a-z0-9_]*$")
        message(FATAL_ERROR "yard_actor(${name}): an actor's name is lower-case letters, "
                            "digits and '_' (it names the descriptor yard_actor_${name})")
    endif()
    add_subdirectory(${name})
    list(APPEND YARD_ACTOR_NAMES ${name})
endmacro()

# yard_actors_registry(<header>)
# Writes <header>: YARD_REGISTRY_ACTORS(X), an X-macro over the actors named with yard_actor(),
# in name order, which actors/include/yard/registry.h and actors/registry.c expand.
function(yard_actors_registry header)
    set(names ${YARD_ACTOR_NAMES})
    list(SORT names)
    list(REMOVE_DUPLICATES names)
    set(YARD_ACTOR_LIST "")
    foreach(n ${names})
        string(APPEND YARD_ACTOR_LIST " X(${n})")
    endforeach()
    configure_file(${CMAKE_SOURCE_DIR}/actors/registry_list.h.in ${header} @ONLY)
endfunction()

# yard_test_not_built(<file> <reason>)
# Says that a test file is deliberately not built in this configuration (e.g. it needs an
# optional library), so that yard_check_tests_registered() does not count it as forgotten.
function(yard_test_not_built file reason)
    get_filename_component(file ${file} ABSOLUTE)
    set_property(GLOBAL APPEND PROPERTY YARD_TEST_SOURCES ${file})
    message(STATUS "not built: ${file} (${reason})")
endfunction()

# yard_check_tests_registered()
# Every test_*.c under tests/ and actors/ must be a source of a yard_add_test() (or named by
# yard_test_not_built()): a test file that no registration names would otherwise never run,
# and nobody would notice. Called once, after every directory was added.
function(yard_check_tests_registered)
    file(GLOB_RECURSE files ${CMAKE_SOURCE_DIR}/tests/test_*.c ${CMAKE_SOURCE_DIR}/actors/test_*.c)
    get_property(registered GLOBAL PROPERTY YARD_TEST_SOURCES)
    set(orphans "")
    foreach(f ${files})
        if(NOT f IN_LIST registered)
            string(APPEND orphans "\n  ${f}")
        endif()
    endforeach()
    if(orphans)
        message(FATAL_ERROR "test files that no yard_add_test() builds (register them in their "
                            "folder's CMakeLists.txt or .cmake fragment):${orphans}")
    endif()
endfunction()
