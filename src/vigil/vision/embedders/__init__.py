"""Face embedders behind one protocol (``base.Embedder``)."""
