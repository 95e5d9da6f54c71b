mkdir -p $PREFIX/share/doc/split
echo "index" > $PREFIX/share/doc/split/index.txt
echo "scratch" > $PREFIX/share/doc/split/scratch.txt
