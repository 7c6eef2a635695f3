// One image file (PNG, JPEG, …: what stb_image decodes), as `kiln vit train`
// reads a folder of class subfolders and as `kiln vlm generate --image` reads
// a single image (grey and RGB).
#include "fuzz_support.hpp"
#include "kiln/data/images.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = kiln::fuzz::write_input(data, size, "images/cat/0.png");
  kiln::fuzz::accept_or_reject([&] { kiln::data::read_image_folder(kiln::fuzz::scratch_folder() / "images"); });
  kiln::fuzz::accept_or_reject([&] { kiln::data::read_image_file(path, 1); });
  kiln::fuzz::accept_or_reject([&] { kiln::data::read_image_file(path, 3); });
  return 0;
}
