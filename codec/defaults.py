"""Defaults that the command line shows in --help and the library uses: kept here, with
no imports, so that `dcn --help` and `dcn info` load neither torch nor Pillow.

The sizes are measured: bench/results/tiling-rate-2026-12-02.md (coding tiles) and
bench/results/speed-2026-12-02.md (blocks: time on Kodak, peak RSS at 24 MP).
"""
CODING_TILE = 256  # pixels, unless a latent codec sets its own (latent/base.py): on Kodak 0.5 % smaller files than 128-px tiles, entropy coding 2x faster
ENCODE_BLOCK = 512  # pixels, of the analysis: 24 MP peaks at 0.72 GB; on Kodak 1.1x faster than 256
DECODE_BLOCK = 512  # pixels, of the synthesis: 24 MP peaks at 1.0 GB; on Kodak 1.1x faster than 256
SMALL_IMAGE = 1 << 20  # pixels: up to this size the analysis runs whole (all threads) and the synthesis stage
# by stage (blocks of each stage, no margins recomputed): on Kodak the analysis 1.2x, the synthesis 1.1x faster
PNG_COMPRESS = 3  # zlib level of a decode written as PNG: 2-3x faster than Pillow's 6, files within ~±8 % of its
DEFAULT_EFFORT, MAX_EFFORT = 0, 3  # encoder effort (pipeline/effort.py): 0 costs an encode without refinement
