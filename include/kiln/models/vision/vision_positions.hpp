#pragma once
// Absolute position vectors for the tokens of packed images of any size
// (SPEC-VLM §1.5, §2.2), each [tokens, D] and differentiable in its tables:
//  - factorized: NaViT's φ_row[r] + φ_col[c], absolute indices;
//  - fractional: the same after resampling each 1-D table linearly
//    (align_corners = false) to the image's grid height or width, so a
//    position is relative to the side length;
//  - resized grid: one learned R×C grid resampled bicubically to each image's
//    grid (the usual ViT resize).
// Images of the same grid size share one resampled table.
#include "kiln/models/vision/image_segments.hpp"
#include "kiln/tensor/tensor.hpp"

namespace kiln::models {

// row_table [R, D], col_table [C, D]. A row ≥ R or column ≥ C is an error
// naming the image: "image 2: row 18 ≥ vision.max_rows 16 (use
// factorized_fractional or rope2d)".
Tensor factorized_positions(const Tensor& row_table, const Tensor& col_table, const ImageSegments& images);
Tensor fractional_positions(const Tensor& row_table, const Tensor& col_table, const ImageSegments& images);
// grid [R, C, D].
Tensor resized_grid_positions(const Tensor& grid, const ImageSegments& images);

}  // namespace kiln::models
