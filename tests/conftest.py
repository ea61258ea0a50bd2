"""Shared test settings."""

import os

# The tests (and the notebooks they execute) never reach for the network by themselves:
# a dataset that is not on disk is a clear error, not a download attempt.
os.environ.setdefault("SUPERCONV_OFFLINE", "1")
