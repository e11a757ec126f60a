"""What the sections of a coding tile hold, for each kind of latent codec (formats/dcn.md,
"Entropy-coded sections"); `dcn info` names them without loading any network."""
SECTION_NAMES = {"hyperprior": ("z", "y"), "checkerboard": ("z and y",),
                 "checkerboard-groups": ("z and y",)}
