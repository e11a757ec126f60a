"""The tools around the codec: the command line, batch conversion and the benchmark."""
