cmake --install build
