# the top-level package only: multi-sub has no top.txt
test -f "$PREFIX/share/multi/top.txt"
