/* Links the packaged libssl/libcrypto: checks the version, makes a TLS client context with the
 * default verify paths (what Python's ssl.create_default_context does) and a SHA-256. */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

int main(int argc, char **argv) {
    const char *version = OpenSSL_version(OPENSSL_VERSION_STRING);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    SSL_CTX *ctx;
    if (argc < 2 || strcmp(version, argv[1]) != 0) {
        fprintf(stderr, "OpenSSL %s, expected %s\n", version, argc < 2 ? "?" : argv[1]);
        return 1;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_default_verify_paths(ctx) != 1) {
        fprintf(stderr, "cannot make a TLS client context\n");
        return 1;
    }
    SSL_CTX_free(ctx);
    if (EVP_Digest("hotel", 5, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != 32) {
        fprintf(stderr, "SHA-256 failed\n");
        return 1;
    }
    printf("OpenSSL %s: TLS client context and SHA-256 work (OPENSSLDIR %s)\n", version,
           OpenSSL_version(OPENSSL_DIR));
    return 0;
}
