"""Reference syntax: docker/oras for registries, skopeo's ``oci:`` for layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubsnap.digest import Digest
from hubsnap.errors import UsageError
from hubsnap.oci.reference import LayoutReference, RegistryReference, parse_reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:5000/models/m:v1", RegistryReference("localhost:5000", "models/m", "v1")),
        (f"ghcr.io/org/m@{D}", RegistryReference("ghcr.io", "org/m", None, Digest.parse(D))),
        ("127.0.0.1:5000/m", RegistryReference("127.0.0.1:5000", "m")),
        ("[::1]:5000/m:t", RegistryReference("[::1]:5000", "m", "t")),
        ("oci:/tmp/store", LayoutReference(Path("/tmp/store"))),
        ("oci:/tmp/store:v1", LayoutReference(Path("/tmp/store"), "v1")),
        (f"oci:/tmp/st:ore/x@{D}", LayoutReference(Path("/tmp/st:ore/x"), None, Digest.parse(D))),
        ("oci:relative/dir:" + "a" * 40, LayoutReference(Path("relative/dir"), "a" * 40)),
    ],
)  # fmt: skip
def test_parse(text: str, expected: object) -> None:
    assert parse_reference(text) == expected
    assert str(parse_reference(text)) == text


def test_bare_digest_names_the_local_store(tmp_path: Path) -> None:
    assert parse_reference(D, store=tmp_path) == LayoutReference(tmp_path, None, Digest.parse(D))
    assert parse_reference("@" + D, store=tmp_path).digest == Digest.parse(D)
    with pytest.raises(UsageError, match="needs a local store"):
        parse_reference(D)


@pytest.mark.parametrize(
    "text",
    ["models/minilm", "localhost:5000/UPPER", "localhost:5000/m:bad tag", "oci:",
     "localhost:5000/m@sha256:short", "ftp//x"],
)  # fmt: skip
def test_invalid(text: str) -> None:
    with pytest.raises(UsageError):
        parse_reference(text)


def test_loopback_and_reference_part() -> None:
    ref = RegistryReference("localhost:5000", "m", "v1")
    assert ref.is_loopback and ref.reference == "v1" and ref.host == "localhost"
    assert not RegistryReference("ghcr.io", "m").is_loopback
    assert RegistryReference("ghcr.io", "m").reference == "latest"
    pinned = ref.with_digest(Digest.parse(D))
    assert pinned.reference == D and str(pinned) == f"localhost:5000/m@{D}"


@pytest.mark.parametrize(
    "path", ["/x/store:v1", "store:v1", "/x/a@b", "/x/st:ore/inner", "/x/store:" + "a" * 40]
)
@pytest.mark.parametrize("digest", [None, Digest.parse(D)])
def test_a_layout_path_prints_in_a_form_that_reads_back_as_the_same_path(
    path: str, digest: Digest | None
) -> None:
    ref = LayoutReference(Path(path), None, digest)
    text = str(ref)
    assert parse_reference(text) == ref
    if ":" in Path(path).name:
        assert text.startswith(f"oci:{path}/.")  # the colon stays inside the path


def test_pull_from_a_store_whose_name_has_a_colon_round_trips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], transfer_env: Path
) -> None:
    from support.registry import build_model, run_cli

    store = tmp_path / "store:v1"
    digest = build_model(store, {"a.txt": b"a\n"})
    printed = run_cli(["pull", f"oci:{store}/.@{digest}"], capsys)
    assert printed.code == 0, printed.err
    assert printed.out == f"oci:{store}/.@{digest}\n"
    again = run_cli(["pull", printed.out.strip(), "-o", str(tmp_path / "out")], capsys)
    assert again.code == 0, again.err
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"a\n"
