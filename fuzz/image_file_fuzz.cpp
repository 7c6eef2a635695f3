// One image of an image folder (PNG, JPEG, …: what stb_image decodes), as
// `kiln vit train` reads a folder of class subfolders.
#include "fuzz_support.hpp"
#include "kiln/data/images.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::write_input(data, size, "images/cat/0.png");
  kiln::fuzz::accept_or_reject([&] { kiln::data::read_image_folder(kiln::fuzz::scratch_folder() / "images"); });
  return 0;
}
