"""Pixels to numbers: detection, alignment, quality, embedding; knows nothing of databases or HTTP."""
