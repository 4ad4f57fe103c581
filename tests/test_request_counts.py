"""Round trips against the real registry, counted: one command reads each manifest once.

A session keeps the manifests it has verified by digest, so resolving a tag and then reading
the manifest it names, or reading the subject again to check signatures, costs no second
request. Each test counts the requests one verb makes through a counting transport.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hubsnap.api.session import TransportOptions
from hubsnap.api.signing import sign, verify
from hubsnap.api.transfer import pull, push
from hubsnap.config import Settings
from support.keys import FIXED_KEY, FIXED_PUB, SIGNED_AT, Model
from support.registry import CountingTransport, RegistryServer, session_for

MakeModel = Callable[..., Model]
pytestmark = pytest.mark.registry


def _settings(tmp_path: Path, name: str) -> Settings:
    return Settings.from_env(
        {"HUBSNAP_HOME": str(tmp_path / name), "DOCKER_CONFIG": str(tmp_path / "docker")}
    )


@pytest.fixture
def pushed(
    make_model: MakeModel, registry: RegistryServer, repo_name: str, tmp_path: Path
) -> tuple[str, Model]:
    """A signed model pushed as ``REG/REPO:v1`` (its signature and provenance along)."""
    model = make_model()
    sign(session_for(_settings(tmp_path, "signer")), model.ref, FIXED_KEY, signed_at=SIGNED_AT)
    push(session_for(_settings(tmp_path, "pusher")), model.ref, f"{registry.host}/{repo_name}:v1")
    return f"{registry.host}/{repo_name}", model


def _manifest_gets(counter: CountingTransport, repository: str, reference: str) -> int:
    path = f"/v2/{repository}/manifests/{reference}"
    return sum(1 for method, seen in counter.requests if method == "GET" and seen == path)


def _counted() -> tuple[CountingTransport, TransportOptions]:
    counter = CountingTransport()
    return counter, TransportOptions(transport=counter)


def test_pull_by_digest_fetches_the_subject_manifest_once(
    pushed: tuple[str, Model], repo_name: str, tmp_path: Path
) -> None:
    repository, model = pushed
    counter, options = _counted()
    session = session_for(_settings(tmp_path, "puller"), options)
    result = pull(session, f"{repository}@{model.digest}", output=tmp_path / "out")
    assert result.digest == model.digest
    assert _manifest_gets(counter, repo_name, str(model.digest)) == 1


def test_pull_by_tag_resolves_once_and_reads_nothing_again(
    pushed: tuple[str, Model], repo_name: str, tmp_path: Path
) -> None:
    repository, model = pushed
    counter, options = _counted()
    session = session_for(_settings(tmp_path, "puller"), options)
    result = pull(session, f"{repository}:v1", allow_tag=True)
    assert (result.digest, result.tag) == (model.digest, "v1")
    assert _manifest_gets(counter, repo_name, "v1") == 1
    assert _manifest_gets(counter, repo_name, str(model.digest)) == 0


def test_verify_reads_the_subject_manifest_once(
    pushed: tuple[str, Model], repo_name: str, tmp_path: Path
) -> None:
    repository, model = pushed
    counter, options = _counted()
    session = session_for(_settings(tmp_path, "verifier"), options)
    report = verify(session, f"{repository}@{model.digest}", keys=[FIXED_PUB])
    assert report.ok, report.all_failures
    assert _manifest_gets(counter, repo_name, str(model.digest)) == 1


def test_push_then_sign_reads_no_manifest_back(
    make_model: MakeModel, registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    """``push --sign`` signs what it pushed: the destination is not re-opened or re-read."""
    model = make_model()
    counter, options = _counted()
    session = session_for(_settings(tmp_path, "pusher"), options)
    result = push(session, model.ref, f"{registry.host}/{repo_name}:v1", sign_key=FIXED_KEY)
    assert result.signed is not None
    assert result.signed.subject == f"{registry.host}/{repo_name}@{model.digest}"
    assert result.to_json()["signed"]["digest"] == str(model.digest)
    assert _manifest_gets(counter, repo_name, str(model.digest)) == 0
    assert _manifest_gets(counter, repo_name, "v1") == 0


def test_a_push_asks_about_each_blob_once_and_puts_the_manifest_once(
    make_model: MakeModel, registry: RegistryServer, repo_name: str, tmp_path: Path
) -> None:
    """The check a refused manifest gets (each blob asked for again) costs an accepted one
    nothing."""
    model = make_model()
    counter, options = _counted()
    session = session_for(_settings(tmp_path, "pusher"), options)
    result = push(session, model.ref, f"{registry.host}/{repo_name}:v1")
    heads = [path for method, path in counter.requests if method == "HEAD"]
    assert len(heads) == len(set(heads)) == result.blobs_total
    puts = [path for method, path in counter.requests if method == "PUT" and "/manifests/" in path]
    assert puts == [f"/v2/{repo_name}/manifests/v1"]
