copy zlib.dll %LIBRARY_BIN%
