"""The prediction log: append-only Arrow/Parquet segments per endpoint, durable like Redis AOF."""
