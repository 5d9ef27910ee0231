// The edge library's C API for C++ files. The library's sources are C (compiled as C by the Arduino
// builder); its header has no extern "C" of its own, so C++ includes it through this file.
// It is found in the sketch's src/ folder, or else as an installed library (README.md, steps 2a/2b).
#ifndef TRIBUTARY_EDGE_ARDUINO_H
#define TRIBUTARY_EDGE_ARDUINO_H

extern "C" {
#if __has_include("src/tributary_edge.h")
#include "src/tributary_edge.h"
#else
#include <tributary_edge.h>
#endif
}

#endif
