#pragma once
namespace kiln {

// Tells glibc to keep freed memory mapped instead of returning it to the
// kernel: libraries we call (oneDNN's packing buffers, SentencePiece) malloc
// and free large blocks on every call, and each fresh 4 KiB page costs about
// 10 µs to fault in on our machines. Called once at program start.
void keep_freed_memory();

}  // namespace kiln
