"""The live pipeline: a camera's frames → faces → tracks → track-level decisions → alerts (docs/pipeline.md)."""
