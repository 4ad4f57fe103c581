"""Signing and verification: ECDSA keys, DSSE/Sigstore bundles, OMS signatures, provenance.

``keys`` owns ``cryptography``; ``dsse`` the envelope and bundle format; ``oms`` and
``provenance`` the two statements hubsnap signs; ``attach`` how bundles hang off a model
manifest as OCI referrers; ``policy`` the trust policy; ``verify`` the checks and chain walk.
The verbs that compose them live in :mod:`hubsnap.api.signing`.
"""
