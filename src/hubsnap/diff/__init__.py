"""What changed between two model artifacts: files, config, tokenizer, model card, safetensors
headers and tensor values, each level a small module over plain bytes and paths.

The levels know no registry: :mod:`hubsnap.api.diff` resolves both sides to files (store
blobs, read by digest, or a registry artifact's files behind
:class:`~hubsnap.diff.files.RemoteFiles`, which the levels read only as small files and
safetensors headers) and hands them here. This package owns numpy; its ``behaviour``
subpackage owns scipy and, lazily, transformers.
"""
