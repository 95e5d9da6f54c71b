#include <stdio.h>
/* The data folder is compiled in: a binary prefix placeholder. */
const char *greet_data_dir(void) { return DATA_DIR; }
const char *greet(void) { return "hello from libgreet"; }
