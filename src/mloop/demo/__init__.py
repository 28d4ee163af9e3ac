"""`mloop demo`: the whole loop told as a story on the embedded default (SQLite + a folder).

Every step is a real ``mloop`` command in a subprocess, printed before it runs, so a reader can
type the same thing; the simulated customers are real HTTP clients of a real server on loopback.
"""
