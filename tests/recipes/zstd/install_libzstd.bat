cmake --install build --component lib
