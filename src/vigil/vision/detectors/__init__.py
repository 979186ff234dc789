"""Face detectors behind one protocol (``base.Detector``)."""
