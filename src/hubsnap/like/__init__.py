"""``discover --like``: Hub models ranked by what their cards say, against a sentence.

- :mod:`~hubsnap.like.card` turns a model card (capped, hostile or not) into a short text:
  metadata fields and the README's first paragraphs; with the listing's id, pipeline tag and
  tags, that is what is embedded for a model.
- :mod:`~hubsnap.like.cards` reads the cards of listed models, once per commit.
- :mod:`~hubsnap.like.rank` embeds texts through a cache keyed by embedder digest and text
  digest, and ranks by cosine similarity.
- :mod:`~hubsnap.like.encoder` loads the embedder, a sentence-transformers model folder
  written from a store artifact (the optional extra ``hubsnap[behaviour]``).

Composed by :mod:`hubsnap.api.like`, which finds the embedder in the store.
"""
