"""Pillow plugin: Image.open("x.dcn") decodes, img.save("x.dcn", quality=4) encodes.

Registered when `codec` is imported. Files are identified by their magic, whatever their
name. The codec's own pixel limit (formats/dcn.md, "Resource bounds") applies here as in
every other path, and Pillow's MAX_IMAGE_PIXELS guard too, before decoding.
"""
from PIL import Image, ImageFile

from .errors import DCNError
from .format import container
from .format.constants import MAGIC, MAX_PIXELS
from .format.limits import max_file_bytes, read_bounded


def _accept(prefix: bytes) -> bool:
    return prefix[:3] == MAGIC


class DcnImageFile(ImageFile.ImageFile):
    format = "DCN"
    format_description = "DCN learned image codec"

    def _open(self) -> None:
        head = self.fp.read(max(h.size for h in container.HEADERS.values()))
        try:
            header = container.peek_header(head, max_pixels=MAX_PIXELS)
        except DCNError as exc:
            raise SyntaxError(str(exc)) from None
        self._size = (header.width, header.height)
        self._mode = header.mode
        self.info["quality"] = header.quality
        Image._decompression_bomb_check(self.size)
        self.tile = []

    def load(self):
        if self._im is None:
            from .pipeline.decode import decode
            self.fp.seek(0)
            data = read_bounded(self.fp, max_file_bytes(), self.filename or "input")
            decoded = decode(data, max_pixels=MAX_PIXELS)
            self.im = decoded.im
            self.info.update(decoded.info)  # the ICC profile and EXIF, known once the file is read
        return Image.Image.load(self)


def _save(im: Image.Image, fp, filename) -> None:
    """img.save(f, "DCN", quality=, target_size= / target_bpp= / target_psnr= (best_effort=),
    model=, effort=, strip_metadata=): the options of codec.encode. DCN's quality is 1 to the
    model's top level (12 for the default model), not JPEG's 0-100: 75 is refused, with the range."""
    import codec
    info = im.encoderinfo
    options = {k: info[k] for k in ("target_size", "target_bpp", "target_psnr", "best_effort", "model", "effort",
                                    "strip_metadata") if k in info}
    fp.write(codec.encode(im, info.get("quality"), max_pixels=MAX_PIXELS, **options))


Image.register_open(DcnImageFile.format, DcnImageFile, _accept)
Image.register_save(DcnImageFile.format, _save)
Image.register_extension(DcnImageFile.format, ".dcn")
Image.register_mime(DcnImageFile.format, "image/x-dcn")
