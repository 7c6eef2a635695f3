#pragma once
#include <cstdint>
namespace kiln {

// Tells glibc to keep freed memory mapped instead of returning it to the
// kernel: libraries we call (oneDNN's packing buffers, SentencePiece) malloc
// and free large blocks on every call, and each fresh 4 KiB page costs about
// 10 µs to fault in on our machines. Called once at program start.
void keep_freed_memory();

// Bytes of physical memory of this machine (sysconf), for refusing a model
// before allocating more than could ever fit.
int64_t physical_memory_bytes();

}  // namespace kiln
