"""What changed between two model artifacts: files, config, tokenizer, model card, safetensors
headers and tensor values, each level a small module over plain bytes and paths.

The levels never fetch anything: :mod:`hubsnap.api.diff` resolves both sides to files (store
blobs, read by digest) and hands them here. This package owns numpy; its ``behaviour``
subpackage owns scipy and, lazily, transformers.
"""
