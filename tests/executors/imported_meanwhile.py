"""Imported by test_ray_executor's check of ``_import_meanwhile``: records the thread that did it."""

import threading

IMPORTED_ON = threading.current_thread().name
