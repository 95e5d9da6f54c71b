cmake -G Ninja -DCMAKE_INSTALL_PREFIX=$PREFIX .
ninja install
