"""Baselines: SASRec, the TIGER-style single-codebook retriever and the RecBole adapter.

The toolkit reaches these modules only through the model registry's lazy "module:attr" names.
"""
