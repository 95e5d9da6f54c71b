/* Links the packaged libbz2: checks its version and round-trips a buffer through it. */
#include <stdio.h>
#include <string.h>
#include <bzlib.h>

int main(int argc, char **argv) {
    char text[] = "hotel images, hotel images, hotel images, hotel images";
    char packed[512], unpacked[512];
    unsigned int packed_len = sizeof packed, unpacked_len = sizeof unpacked;
    const char *version = BZ2_bzlibVersion();
    if (argc < 2 || strncmp(version, argv[1], strlen(argv[1])) != 0) {
        fprintf(stderr, "libbz2 %s, expected %s\n", version, argc < 2 ? "?" : argv[1]);
        return 1;
    }
    if (BZ2_bzBuffToBuffCompress(packed, &packed_len, text, strlen(text), 9, 0, 0) != BZ_OK
        || BZ2_bzBuffToBuffDecompress(unpacked, &unpacked_len, packed, packed_len, 0, 0) != BZ_OK
        || unpacked_len != strlen(text) || memcmp(unpacked, text, unpacked_len) != 0) {
        fprintf(stderr, "round trip failed\n");
        return 1;
    }
    printf("libbz2 %s: round trip of %u bytes\n", version, unpacked_len);
    return 0;
}
