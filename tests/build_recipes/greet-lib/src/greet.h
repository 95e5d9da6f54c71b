const char *greet_data_dir(void);
const char *greet(void);
