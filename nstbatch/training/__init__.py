"""Training feed-forward stylisers: photo crops (photos.py) and the loop with its model folder (loop.py)."""
