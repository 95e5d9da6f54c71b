# A one-hotel run of the packaged imgpipe on tiny PNGs this script draws itself (bash only: the
# test environment holds imgpipe and nothing else). Photo a, photo b, and a copy of a that is a
# little brighter: two images are kept, the brighter copy joins a's duplicate group.
set -euo pipefail

crc_table=()
for ((n = 0; n < 256; n++)); do
  c=$n
  for ((k = 0; k < 8; k++)); do
    if ((c & 1)); then c=$((0xEDB88320 ^ (c >> 1))); else c=$((c >> 1)); fi
  done
  crc_table[n]=$c
done

# big-endian 32-bit word as four byte values
be32() { echo $((($1 >> 24) & 255)) $((($1 >> 16) & 255)) $((($1 >> 8) & 255)) $(($1 & 255)); }

# chunk TYPE BYTE... : length, type, data and CRC of one PNG chunk, as byte values
chunk() {
  local type=$1 c=0xFFFFFFFF b
  shift
  local body=($(printf '%d ' "'${type:0:1}" "'${type:1:1}" "'${type:2:1}" "'${type:3:1}") "$@")
  for b in "${body[@]}"; do c=$((crc_table[(c ^ b) & 255] ^ (c >> 8))); done
  echo $(be32 $#) "${body[@]}" $(be32 $((c ^ 0xFFFFFFFF)))
}

# png FILE VARIANT: a 64x48 RGB drawing, stored uncompressed in one zlib block
png() {
  local file=$1 variant=$2 w=64 h=48 x y r g b raw=() a1=1 a2=0 v
  for ((y = 0; y < h; y++)); do
    raw+=(0)
    for ((x = 0; x < w; x++)); do
      case $variant in
        a | a-bright)
          r=$((x * 4)) g=$((((x / 16 + y / 16) % 2) * 200)) b=$((y * 5))
          if [ "$variant" = a-bright ]; then r=$((r + 10)) g=$((g + 10)) b=$((b + 10)); fi ;;
        b) r=$((255 - y * 5)) g=$((x * x % 256)) b=$((((x / 8) % 2) * 255)) ;;
      esac
      raw+=($((r > 255 ? 255 : r)) $((g > 255 ? 255 : g)) $((b > 255 ? 255 : b)))
    done
  done
  for v in "${raw[@]}"; do a1=$(((a1 + v) % 65521)) a2=$(((a2 + a1) % 65521)); done
  local n=${#raw[@]}
  local idat=(120 1 1 $((n & 255)) $((n >> 8)) $((~n & 255)) $(((~n >> 8) & 255)) "${raw[@]}" $(be32 $(((a2 << 16) | a1))))
  local bytes=(137 80 78 71 13 10 26 10
    $(chunk IHDR $(be32 $w) $(be32 $h) 8 2 0 0 0)
    $(chunk IDAT "${idat[@]}")
    $(chunk IEND))
  printf '%b' "$(printf '\\x%02x' "${bytes[@]}")" > "$file"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for photo in a b a-bright; do png "$work/$photo.png" "$photo"; done
{
  echo "partner_hotel_id,hotel_group_id,image_url,caption"
  for photo in a b a-bright; do echo "H1,hotel-1,file://$work/$photo.png,$photo"; done
} > "$work/partner.csv"

imgpipe --quiet --db "$work/state.db" --store "$work/store" run --allow-file-urls \
  --catalog "partner=$work/partner.csv" --out "$work/out"
status=$(imgpipe --db "$work/state.db" --json status)
echo "$status"
for expected in '"done": 3' '"duplicate_groups": 1' '"ranked": 2' '"outputs": 28'; do
  if ! grep -qF "$expected" <<< "$status"; then
    echo "error: the one-hotel run's status lacks $expected" >&2
    exit 1
  fi
done
rendered=$(find "$work/out" -type f | wc -l)
if [ "$rendered" != 28 ]; then
  echo "error: expected 2 kept images x 14 configurations = 28 files, found $rendered" >&2
  exit 1
fi
echo "one-hotel run: 3 photos, 1 duplicate group, 2 kept, $rendered files rendered"
