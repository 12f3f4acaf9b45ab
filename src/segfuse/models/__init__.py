"""Networks and their weights: clean-room PyTorch modules with the official checkpoints' key layout."""
