"""Sparse dictionaries (TopK sparse autoencoders) on a model's states: features where no single unit is.

Training (`train`), the folder (`folder`), statistics (`evaluate`), each feature explained
(`explain`), the sentiment feature (`sentiment`) and the feature browser (`browser`).
"""
