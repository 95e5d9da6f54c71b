//! krait: build, index, serve and install conda packages.
