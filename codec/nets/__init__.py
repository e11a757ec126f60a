"""The networks: analysis and synthesis transforms, hyper networks, the context model,
the integer form of the networks that pick tables, and block-wise evaluation."""
