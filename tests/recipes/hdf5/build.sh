if [[ "$mpi" != "nompi" ]]; then export CC=mpicc; fi
./configure --prefix=$PREFIX
make install
