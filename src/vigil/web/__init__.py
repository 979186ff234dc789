"""The control room: FastAPI app with the REST API, the pages and live push (docs/control-room.md)."""
