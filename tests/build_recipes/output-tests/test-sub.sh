# multi-sub's own test
test -f "$PREFIX/share/multi/sub.txt"
