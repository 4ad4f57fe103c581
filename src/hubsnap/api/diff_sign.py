"""``diff --sign KEY``: the JSON report, signed, attached to the diff's target as a referrer.

The key is loaded before the diff fetches or reads anything (:func:`load_report_key`), so a
missing or wrong key file costs nothing and attaches nothing. The report is signed as an
in-toto statement about the target manifest
(:class:`~hubsnap.signing.diffreport.DiffStatement`, predicate = the report's JSON document
exactly as ``--format json`` prints it) and attached the way ``sign`` attaches its bundles,
labelled ``diff``: to the registry repository, ``oci:`` layout or local store the target was
found in. A report whose bundle would pass the 1 MiB readers accept is refused unattached.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hubsnap.api.diff_sides import Found
from hubsnap.api.session import Session
from hubsnap.diff.report import DiffReport
from hubsnap.digest import Digest
from hubsnap.errors import UsageError
from hubsnap.oci.reference import LayoutReference
from hubsnap.oci.repository import Repository
from hubsnap.signing.attach import attach_bundles, prepare_referrer
from hubsnap.signing.diffreport import DiffStatement
from hubsnap.signing.dsse import MAX_BUNDLE_BYTES, sign_statement
from hubsnap.signing.keys import DEFAULT_PASSWORD_ENV, PrivateKey, load_private_key
from hubsnap.signing.kinds import SignatureKind

__all__ = ["attach_report", "load_report_key"]


def load_report_key(path: Path, *, password_env: str = DEFAULT_PASSWORD_ENV) -> PrivateKey:
    """The signing key (an encrypted one's password from ``password_env``): a missing file is
    exit 3, one that is no usable private key exit 2."""
    return load_private_key(path, password_env=password_env)


def _target_repository(session: Session, target: Found) -> Repository:
    if target.repository is not None:
        return target.repository
    assert target.store is not None
    return session.open(LayoutReference(target.store.root, None, target.digest))


def attach_report(
    session: Session,
    target: Found,
    report: DiffReport,
    key: PrivateKey,
    *,
    signed_at: datetime | None = None,
) -> Digest:
    """Sign ``report`` about ``target`` and attach it there (labelled as signed at
    ``signed_at``, default now); the referrer's digest."""
    repository = _target_repository(session, target)
    subject = session.manifest(repository, target.digest).descriptor
    statement = DiffStatement(target.digest, target.reference, report.to_json())
    bundle = sign_statement(statement, key)
    size = len(bundle.to_bytes())
    if size > MAX_BUNDLE_BYTES:
        raise UsageError(
            f"the signed report would be {size} bytes, over the 1 MiB a signature bundle holds",
            hint="sign a report of fewer levels or a smaller test set",
        )
    when = signed_at or datetime.now(UTC)
    prepared = prepare_referrer(subject, bundle, SignatureKind.DIFF, when)
    with repository.writing():
        (digest,) = attach_bundles(repository, [prepared])
    return digest
