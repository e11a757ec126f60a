"""Entropy coding: integer probability tables and the ANS coder that uses them."""
