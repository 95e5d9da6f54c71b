./configure --prefix=$PREFIX --with-icu=$with_icu
make install
