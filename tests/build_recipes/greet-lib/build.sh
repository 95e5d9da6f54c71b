mkdir -p "$PREFIX/lib" "$PREFIX/include" "$PREFIX/share/greet"
gcc -shared -fPIC -o "$PREFIX/lib/libgreet.so" greet.c -DDATA_DIR="\"$PREFIX/share/greet\""
cp greet.h "$PREFIX/include/"
echo "greetings live in $PREFIX/share/greet" > "$PREFIX/share/greet/where.txt"
