#pragma once
#define MYLIB_VERSION "2.4.1"
