copy zlib.h %LIBRARY_INC%
