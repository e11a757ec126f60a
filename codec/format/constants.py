"""Every constant that existing .dcn files depend on, named once. Changing one breaks
files already written: that needs a new container version or a new registered model,
never an edit here."""

MAGIC = b"DCN"
MODES = ("L", "RGB", "LA", "RGBA")  # the colour mode byte indexes this

STRIDE = 64  # pixels per element of z: the total downsampling of image to hyper-latent
Y_STRIDE = 16  # pixels per element of y
Z_TO_Y = STRIDE // Y_STRIDE  # elements of y per element of z, along each axis
TILE_UNIT = 64  # coding tile sides are multiples of this (the stride of z)

PRECISION = 16  # every probability table sums to 2**PRECISION
MAX_ABS = 2 ** 20  # coded integers (z, y residuals) lie within +-MAX_ABS
ESCAPE_LENGTHS = 22  # bit lengths of an escaped value's excess: 0 .. 21

QUALITY_SCALE = 1000  # the header stores round(quality * QUALITY_SCALE)
FINGERPRINT_BYTES = 4  # the SHA-256 prefix of a model's decoder weights file
# metadata records of version 4: Pillow's name of the item -> its 4-byte tag in the file
METADATA_TAGS = {"icc_profile": b"ICCP", "exif": b"EXIF"}
MAX_PIXELS = 2 ** 27  # default bound on the decoded image (134 MP); callers may raise it
