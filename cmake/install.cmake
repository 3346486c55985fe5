# What `cmake --install` puts under the prefix for actors built outside the tree: libyard
# (static), its public headers under include/yard/, and lib/pkgconfig/yard.pc, next to the
# programs (yard_add_program installs them into bin/).
include(GNUInstallDirs)

install(TARGETS yard ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/proto/include/yard
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

# yard.pc finds the prefix from its own place (${pcfiledir}), so `--prefix` at install time
# works without reconfiguring.
file(RELATIVE_PATH YARD_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${CMAKE_SOURCE_DIR}/cmake/yard.pc.in ${CMAKE_BINARY_DIR}/yard.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/yard.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
