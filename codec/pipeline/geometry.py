"""Where the coding tiles lie, shared by the encoder and the decoder."""
from ..format.constants import STRIDE
from ..format.container import Header


def tile_boxes(header: Header) -> list[tuple[int, int, int, int]]:
    """Each coding tile as (top, left, height, width) in z elements, row by row; in y
    elements multiply by 4, in pixels by 64."""
    rows, cols = -(-header.height // STRIDE), -(-header.width // STRIDE)
    t = header.tile // STRIDE
    return [(r, c, min(t, rows - r), min(t, cols - c)) for r in range(0, rows, t) for c in range(0, cols, t)]
