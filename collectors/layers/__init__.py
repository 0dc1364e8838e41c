"""Layer scanning: stream one layer blob and find what it holds (see audit/images.py)."""
