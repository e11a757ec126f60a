"""The .dcn container (formats/dcn.md) and the constants that files depend on."""
