"""Item tokenisation: quantisers (RQ-VAE, residual k-means), collision handling, the token
vocabulary with one id range per (codebook, level), and the prefix trie of valid codes."""
