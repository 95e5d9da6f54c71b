/* Links the packaged libz: checks its version and round-trips a buffer through it. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

int main(int argc, char **argv) {
    const char *text = "hotel images, hotel images, hotel images, hotel images";
    unsigned char packed[256], unpacked[256];
    uLongf packed_len = sizeof packed, unpacked_len = sizeof unpacked;
    if (argc < 2 || strcmp(zlibVersion(), argv[1]) != 0) {
        fprintf(stderr, "zlib %s, expected %s\n", zlibVersion(), argc < 2 ? "?" : argv[1]);
        return 1;
    }
    if (compress(packed, &packed_len, (const Bytef *)text, strlen(text)) != Z_OK
        || uncompress(unpacked, &unpacked_len, packed, packed_len) != Z_OK
        || unpacked_len != strlen(text) || memcmp(unpacked, text, unpacked_len) != 0) {
        fprintf(stderr, "round trip failed\n");
        return 1;
    }
    printf("zlib %s: %zu bytes -> %lu -> %lu\n", zlibVersion(), strlen(text), packed_len, unpacked_len);
    return 0;
}
