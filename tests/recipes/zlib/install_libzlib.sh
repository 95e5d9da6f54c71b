cp -a $SRC_DIR/lib/libz*.so* $PREFIX/lib/ || true
