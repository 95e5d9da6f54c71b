/* Links the packaged libffi and calls a C function through it, as ctypes does. */
#include <stdio.h>
#include <ffi.h>

static int add(int a, int b) { return a + b; }

int main(void) {
    ffi_cif cif;
    ffi_type *args[2] = {&ffi_type_sint, &ffi_type_sint};
    int a = 40, b = 2;
    void *values[2] = {&a, &b};
    ffi_arg result = 0;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint, args) != FFI_OK) {
        fprintf(stderr, "ffi_prep_cif failed\n");
        return 1;
    }
    ffi_call(&cif, FFI_FN(add), &result, values);
    if ((int)result != 42) {
        fprintf(stderr, "add(40, 2) through libffi gave %d\n", (int)result);
        return 1;
    }
    printf("libffi call: add(40, 2) = %d\n", (int)result);
    return 0;
}
