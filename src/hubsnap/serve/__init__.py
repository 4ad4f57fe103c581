"""``hubsnap serve`` and ``hubsnap worker``: every new commit of a watched Hub repository
becomes a signed artifact, exactly once.

This package owns the server's third-party SDKs (Starlette, uvicorn, RQ, Redis,
prometheus_client); nothing else in hubsnap imports them. The job itself is
:func:`hubsnap.api.serve.mirror`, composed from the public verbs.

- :mod:`.payload`: the Hub's webhook payload (v3), parsed by hubsnap's own model.
- :mod:`.jobs`: a job's key and id.
- :mod:`.service`: which jobs a delivery means; the reconciler; running a job.
- :mod:`.sqlite_queue`, :mod:`.pool`: the embedded queue and its workers.
- :mod:`.rq_queue`: RQ on Redis, and ``hubsnap worker``.
- :mod:`.app`, :mod:`.server`, :mod:`.metrics`, :mod:`.logs`: HTTP, process, observability.
"""
