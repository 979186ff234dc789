"""The live pipeline: camera sources → frames → tracking → track-level decisions → alerts."""
