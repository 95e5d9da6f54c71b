cp $SRC_DIR/zlib.h $PREFIX/include/
