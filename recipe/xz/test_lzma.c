/* Links the packaged liblzma: checks its version and round-trips a buffer through it. */
#include <stdio.h>
#include <string.h>
#include <lzma.h>

int main(int argc, char **argv) {
    const uint8_t text[] = "hotel images, hotel images, hotel images, hotel images";
    uint8_t packed[512], unpacked[512];
    size_t packed_len = 0, unpacked_len = 0, in_pos = 0;
    uint64_t memlimit = UINT64_MAX;
    if (argc < 2 || strcmp(lzma_version_string(), argv[1]) != 0) {
        fprintf(stderr, "liblzma %s, expected %s\n", lzma_version_string(), argc < 2 ? "?" : argv[1]);
        return 1;
    }
    if (lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, text, sizeof text, packed, &packed_len,
                                sizeof packed) != LZMA_OK
        || lzma_stream_buffer_decode(&memlimit, 0, NULL, packed, &in_pos, packed_len, unpacked,
                                     &unpacked_len, sizeof unpacked) != LZMA_OK
        || unpacked_len != sizeof text || memcmp(unpacked, text, sizeof text) != 0) {
        fprintf(stderr, "round trip failed\n");
        return 1;
    }
    printf("liblzma %s: round trip of %zu bytes\n", lzma_version_string(), unpacked_len);
    return 0;
}
