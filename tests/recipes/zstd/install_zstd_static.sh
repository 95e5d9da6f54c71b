cp build/lib/libzstd.a $PREFIX/lib
