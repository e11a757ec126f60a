"""`dcn bench`: rate-distortion of DCN and classical codecs on the same images."""
