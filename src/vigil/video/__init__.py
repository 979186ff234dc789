"""Frames from cameras: sources (PyAV/FFmpeg), the camera state machine, face tracking."""
