"""The HTTP edge: FastAPI app, request codecs, micro-batching, routing and the server process."""
