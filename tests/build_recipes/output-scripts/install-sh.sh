mkdir -p "$PREFIX/share/scripted"
echo sh > "$PREFIX/share/scripted/sh.txt"
