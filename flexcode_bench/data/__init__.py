"""Datasets: catalogue, download, readers, preprocessing, prepared splits and item-text embeddings.

Nothing here knows about models.
"""
