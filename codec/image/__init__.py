"""Images in and out: reading any Pillow image to the codec's planes, the alpha plane's
lossless section, and the rate and distortion measures."""
