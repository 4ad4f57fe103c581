"""Pulls into a directory that cannot be turned against the user, and a store that cannot be
written through: every refusal is one line with its exit code, and leaves the directory and
the store exactly as they were (a store that did not exist is not created)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from hubsnap.digest import sha256_bytes
from hubsnap.models import (
    ANNOTATION_FILEPATH,
    ARTIFACT_TYPE_MODEL,
    MEDIA_TYPE_MODEL_CONFIG,
    MEDIA_TYPE_MODEL_WEIGHT,
    Descriptor,
    Manifest,
)
from hubsnap.oci.layout import LayoutStore
from support.registry import CliRun, build_model, run_cli

FILES = {"config.json": b'{"a": 1}\n', "sub/model.bin": b"W" * 70_000}


def _layout(root: Path, files: dict[str, bytes]) -> str:
    """A model artifact of ``files`` in the layout ``root``, paths taken as given (hostile
    ones included); returns its digest."""
    store = LayoutStore(root).ensure()
    layers = tuple(
        Descriptor(MEDIA_TYPE_MODEL_WEIGHT, store.put_bytes(data), len(data),
                   {ANNOTATION_FILEPATH: path})
        for path, data in files.items()
    )  # fmt: skip
    config = b"{}"
    manifest = Manifest(
        config=Descriptor(MEDIA_TYPE_MODEL_CONFIG, store.put_bytes(config), len(config)),
        layers=layers,
        artifact_type=ARTIFACT_TYPE_MODEL,
    )
    return str(store.put_manifest(manifest.to_bytes()).digest)


def _snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Everything under ``root``: files with their bytes, links with their targets, dirs."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[name] = ("link", str(path.readlink()))
        elif path.is_dir():
            out[name] = ("dir", "")
        else:
            out[name] = ("file", path.read_bytes())
    return out


def _pull(
    source: Path, digest: str, out_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> CliRun:
    return run_cli(["pull", f"oci:{source}@{digest}", "-o", str(out_dir), *extra], capsys)


def _one_line(run: CliRun, code: int, message: str) -> None:
    assert run.code == code, run.err
    lines = [line for line in run.err.splitlines() if not line.startswith("hint: ")]
    assert lines == [f"error: {message}"]


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    """A destination directory that already holds the user's own files."""
    out = tmp_path / "out"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "notes.txt").write_bytes(b"mine\n")
    return out


# -- git ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [".git/config", ".GIT/config", "sub/.Git/hooks/pre-commit", ".git./config", ".git /config",
     ".git. . /config", "git~1/config", "GIT~1/config", ".git"],
)  # fmt: skip
def test_layer_paths_into_git_are_refused_before_any_write(
    *, transfer_env: Path, tmp_path: Path, existing: Path, capsys: pytest.CaptureFixture[str],
    path: str,
) -> None:  # fmt: skip
    digest = _layout(tmp_path / "src", {"README.md": b"hi\n", path: b"[core]\n\tfsmonitor=x\n"})
    before = _snapshot(existing)
    run = _pull(tmp_path / "src", digest, existing, capsys)
    _one_line(run, 6, f"refusing layer path {path!r}: it has a '.git' component")
    assert _snapshot(existing) == before
    assert not (transfer_env / "store").exists()
    assert not transfer_env.exists()


# -- files already in DIR -----------------------------------------------------------------------


def test_a_file_that_is_not_the_artifacts_is_kept_unless_forced(
    transfer_env: Path, tmp_path: Path, existing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _layout(tmp_path / "src", FILES)
    (existing / "sub").mkdir()
    (existing / "sub" / "model.bin").write_bytes(b"the user's own work\n")
    before = _snapshot(existing)

    run = _pull(tmp_path / "src", digest, existing, capsys)
    _one_line(
        run, 2,
        f"refusing to replace {existing / 'sub' / 'model.bin'}: it is not the artifact's "
        "'sub/model.bin'",
    )  # fmt: skip
    assert "hint: pass --force to overwrite files that differ" in run.err
    assert _snapshot(existing) == before
    assert not (transfer_env / "store").exists()

    forced = _pull(tmp_path / "src", digest, existing, capsys, "--force")
    assert forced.code == 0, forced.err
    assert (existing / "sub" / "model.bin").read_bytes() == FILES["sub/model.bin"]
    assert (existing / "keep" / "notes.txt").read_bytes() == b"mine\n"


@pytest.mark.parametrize("mode", [[], ["--link"]])
def test_re_running_a_pull_leaves_exactly_the_artifacts_files(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: list[str]
) -> None:
    digest = _layout(tmp_path / "src", FILES)
    out = tmp_path / "out"
    for _ in range(3):
        run = _pull(tmp_path / "src", digest, out, capsys, *mode)
        assert run.code == 0, run.err
    assert _snapshot(out) == {
        "config.json": ("file", FILES["config.json"]),
        "sub": ("dir", ""),
        "sub/model.bin": ("file", FILES["sub/model.bin"]),
    }


def test_files_are_independent_copies_by_default(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = build_model(transfer_env / "store", FILES)  # every blob already in the store
    out = tmp_path / "out"
    run = run_cli(["pull", digest, "-o", str(out), "--json"], capsys)
    assert run.code == 0, run.err
    assert '"bytes_fetched": 0' in run.out
    store = LayoutStore(transfer_env / "store")
    for name, data in FILES.items():
        file = out / name
        assert file.read_bytes() == data
        assert file.stat().st_nlink == 1
        assert file.stat().st_ino != store.blob_path(sha256_bytes(data)).stat().st_ino
        file.chmod(0o644)
        file.write_bytes(b"edited")  # editing a pulled file cannot damage the store
        assert store.blob_path(sha256_bytes(data)).read_bytes() == data


def test_a_damaged_store_blob_is_caught_and_the_repair_named(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = build_model(transfer_env / "store", FILES)
    blob = LayoutStore(transfer_env / "store").blob_path(sha256_bytes(FILES["sub/model.bin"]))
    blob.chmod(0o644)
    blob.write_bytes(b"X" * len(FILES["sub/model.bin"]))
    out = tmp_path / "out"
    run = run_cli(["pull", digest, "-o", str(out)], capsys)
    assert run.code == 6
    (line,) = run.err.splitlines()
    assert line.startswith("error: sub/model.bin: digest mismatch (expected sha256:")
    assert line.endswith(f"the local store's copy is damaged: delete {blob} and pull again to "
                         "repair it")  # fmt: skip
    assert not out.exists()


# -- paths that cannot all be written ------------------------------------------------------------


def test_a_path_that_is_both_file_and_directory_is_refused_before_any_write(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _layout(tmp_path / "src", {"a": b"file\n", "a/b": b"under it\n"})
    out = tmp_path / "out"
    run = _pull(tmp_path / "src", digest, out, capsys)
    _one_line(
        run, 6, "layer paths 'a' and 'a/b' conflict: one would be both a file and a directory"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("path", "limit"),
    [("n" * 300, "a name in it is longer than the filesystem allows (255 bytes)"),
     ("/".join(["d" * 200] * 25), "is longer than the filesystem allows (4096 bytes)")],
)  # fmt: skip
def test_names_too_long_for_the_filesystem_are_refused_with_exit_6(
    *, transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str,
    limit: str,
) -> None:  # fmt: skip
    digest = _layout(tmp_path / "src", {"ok.txt": b"ok\n", path: b"long\n"})
    out = tmp_path / "out"
    run = _pull(tmp_path / "src", digest, out, capsys)
    assert run.code == 6, run.err
    (line,) = run.err.splitlines()
    assert line.startswith(f"error: refusing layer path {path!r}")
    assert limit in line
    assert not out.exists()


def test_a_failure_half_way_undoes_everything_the_pull_wrote(
    transfer_env: Path, tmp_path: Path, existing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"a/one.txt": b"one\n", "b/c/two.bin": b"2" * 5000, "z.txt": b"last\n"}
    digest = _layout(tmp_path / "src", files)
    blob = LayoutStore(tmp_path / "src").blob_path(sha256_bytes(files["b/c/two.bin"]))
    blob.chmod(0o644)
    blob.write_bytes(b"3" * 5000)  # the source's copy no longer matches its digest
    before = _snapshot(existing)
    run = _pull(tmp_path / "src", digest, existing, capsys)
    assert run.code == 6
    (line,) = run.err.splitlines()
    assert line.startswith("error: blob digest mismatch: expected ")
    assert _snapshot(existing) == before  # no a/, no b/c/, no temp file
    assert not (transfer_env / "store").exists()


def test_a_full_disk_is_one_line_exit_2_and_leaves_nothing(
    transfer_env: Path, tmp_path: Path, existing: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    digest = _layout(tmp_path / "src", FILES)
    before = _snapshot(existing)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    run = _pull(tmp_path / "src", digest, existing, capsys)
    _one_line(run, 2, f"cannot write {existing}: No space left on device")
    assert _snapshot(existing) == before
    assert not (transfer_env / "store").exists()


def test_a_full_disk_while_filling_a_new_store_leaves_no_store(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    digest = _layout(tmp_path / "src", FILES)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    run = run_cli(["pull", f"oci:{tmp_path / 'src'}@{digest}"], capsys)
    assert run.code == 2
    (line,) = run.err.splitlines()
    assert line.startswith("error: cannot write ") and line.endswith(": No space left on device")
    assert not (transfer_env / "store").exists()


# -- where DIR and the store are -----------------------------------------------------------------


def test_output_under_a_file_is_exit_2(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _layout(tmp_path / "src", FILES)
    (tmp_path / "file").write_bytes(b"x")
    run = _pull(tmp_path / "src", digest, tmp_path / "file" / "out", capsys)
    _one_line(
        run, 2, f"cannot write into {tmp_path / 'file' / 'out'}: {tmp_path / 'file'} is not a "
        "directory",
    )  # fmt: skip
    assert (tmp_path / "file").read_bytes() == b"x"
    assert not transfer_env.exists()


def test_output_under_a_read_only_directory_is_exit_2(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    digest = _layout(tmp_path / "src", FILES)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root writes anyway: make mkdir answer as it would anyone else
        real_mkdir = Path.mkdir

        def mkdir(
            self: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False
        ) -> None:
            if self.parent == locked:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
            real_mkdir(self, mode, parents, exist_ok)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    run = _pull(tmp_path / "src", digest, locked / "out", capsys)
    _one_line(run, 2, f"cannot write {locked / 'out'}: Permission denied")
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("how", ["--store", "HUBSNAP_HOME", "HUBSNAP_STORE"])
def test_a_store_path_naming_a_file_is_exit_2_and_creates_nothing(
    *, transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, how: str,
) -> None:  # fmt: skip
    digest = _layout(tmp_path / "src", FILES)
    plain = tmp_path / "plain-file"
    plain.write_bytes(b"x")
    argv = ["pull", f"oci:{tmp_path / 'src'}@{digest}"]
    if how == "--store":
        argv += ["--store", str(plain)]
        store = plain
    else:
        monkeypatch.setenv(how, str(plain))
        store = plain / "store" if how == "HUBSNAP_HOME" else plain
    run = run_cli(argv, capsys)
    where = "it" if store == plain else str(plain)
    _one_line(run, 2, f"cannot use store {store}: {where} is not a directory")
    assert plain.read_bytes() == b"x"


def test_output_through_a_symlinked_ancestor_is_refused(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _layout(tmp_path / "src", FILES)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    run = _pull(tmp_path / "src", digest, tmp_path / "link" / "sub", capsys)
    _one_line(run, 6, f"refusing to write through symlink {tmp_path / 'link'}")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("planted", ["blobs/sha256", "blobs", "ingest", ".index.lock"])
def test_a_store_with_planted_symlinks_is_not_written_through(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], planted: str
) -> None:
    digest = _layout(tmp_path / "src", FILES)
    store = transfer_env / "store"
    LayoutStore(store).ensure()
    victim = tmp_path / "victim"
    victim.mkdir()
    target = victim / "lock" if planted == ".index.lock" else victim
    path = store / planted
    if path.is_dir():
        if planted == "blobs":
            (path / "sha256").rmdir()
        path.rmdir()
    path.symlink_to(target)
    run = run_cli(["pull", f"oci:{tmp_path / 'src'}@{digest}"], capsys)
    _one_line(run, 6, f"refusing to write through symlink {path}")
    assert list(victim.iterdir()) == []


# -- where the artifact comes from ---------------------------------------------------------------


def test_a_repository_that_lacks_the_artifact_is_not_found_even_if_the_store_has_it(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = build_model(transfer_env / "store", FILES)
    nowhere = tmp_path / "no" / "such" / "layout"
    run = run_cli(["pull", f"oci:{nowhere}@{digest}", "-o", str(tmp_path / "out")], capsys)
    _one_line(run, 3, f"no OCI image layout at {nowhere}")
    assert not (tmp_path / "out").exists()

    empty = tmp_path / "empty"
    _layout(empty, {"other.txt": b"other\n"})
    run = run_cli(["pull", f"oci:{empty}@{digest}", "-o", str(tmp_path / "out")], capsys)
    assert run.code == 3
    assert not (tmp_path / "out").exists()

    cached = run_cli(
        ["pull", f"oci:{nowhere}@{digest}", "-o", str(tmp_path / "out"), "--from-cache"], capsys
    )
    assert cached.code == 0, cached.err
    assert (tmp_path / "out" / "sub" / "model.bin").read_bytes() == FILES["sub/model.bin"]


def test_link_and_copy_together_are_a_usage_error(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(["pull", "sha256:" + "0" * 64, "-o", str(tmp_path), "--link", "--copy"], capsys)
    _one_line(run, 2, "--link and --copy contradict each other")


# -- names a reader could mistake ----------------------------------------------------------------


def test_case_and_normalisation_twins_and_bidi_names_are_warned_about(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"README.md": b"a\n", "readme.md": b"b\n", "caf\u00e9.txt": b"c\n",
             "cafe\u0301.txt": b"d\n", "evil\u202etxt.exe": b"e\n"}  # fmt: skip
    digest = _layout(tmp_path / "src", files)
    run = _pull(tmp_path / "src", digest, tmp_path / "out", capsys)
    assert run.code == 0, run.err
    warnings = [line for line in run.err.splitlines() if line.startswith("warning: ")]
    assert (
        "warning: paths 'README.md' and 'readme.md' differ only in case or Unicode "
        "normalisation: on some filesystems one replaces the other"
    ) in warnings
    assert any("'caf\\xe9.txt'" in w and "'cafe\\u0301.txt'" in w for w in warnings)
    assert (
        "warning: path 'evil\\u202etxt.exe' contains a bidirectional control character: it "
        "may display as another name"
    ) in warnings
    assert "\u202e" not in run.err

    shown = run_cli(["inspect", f"oci:{tmp_path / 'src'}@{digest}"], capsys)
    assert shown.code == 0, shown.err
    assert "\u202e" not in shown.out + shown.err
    assert "evil\\u202etxt.exe" in shown.out


def test_inspect_escapes_remote_text_so_the_table_and_terminal_stay_intact(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {"a\nfake-row  x  1  sha256:0": b"a\n", "b\x1b[2Jclear": b"b\n", "c\\nd": b"c\n"}
    digest = _layout(tmp_path / "src", files)
    run = run_cli(["inspect", f"oci:{tmp_path / 'src'}@{digest}"], capsys)
    assert run.code == 0, run.err
    rows = [line for line in run.out.splitlines() if line.startswith(("a\\", "b\\", "c\\"))]
    assert [row.split()[0] for row in rows] == [
        "a\\nfake-row", "b\\x1b[2Jclear", "c\\\\nd"
    ]  # fmt: skip
    assert "\x1b" not in run.out
    assert not any(line.startswith("fake-row") for line in run.out.splitlines())


def test_a_linked_re_pull_rechecks_the_blobs_it_finds_in_place(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = _layout(tmp_path / "src", FILES)
    out = tmp_path / "out"
    assert _pull(tmp_path / "src", digest, out, capsys, "--link").code == 0
    blob = LayoutStore(transfer_env / "store").blob_path(sha256_bytes(FILES["sub/model.bin"]))
    blob.chmod(0o644)
    blob.write_bytes(b"X" * len(FILES["sub/model.bin"]))  # DIR's file is the same inode
    run = _pull(tmp_path / "src", digest, out, capsys, "--link")
    assert run.code == 6
    (line,) = run.err.splitlines()
    assert line.startswith(f"error: {out / 'sub' / 'model.bin'}: digest mismatch")
    assert line.endswith(f"delete {blob} and pull again to repair it")


def test_a_pull_into_a_directory_shows_progress_on_a_terminal_only(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import sys

    digest = _layout(tmp_path / "src", FILES)
    bar = f"{digest.split(':')[1][:12]} →"
    piped = _pull(tmp_path / "src", digest, tmp_path / "piped", capsys)
    assert piped.code == 0, piped.err
    assert bar not in piped.err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    shown = _pull(tmp_path / "src", digest, tmp_path / "tty", capsys)
    assert shown.code == 0, shown.err
    assert bar in shown.err


def test_a_push_into_a_new_layout_that_fails_leaves_no_layout(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    digest = _layout(tmp_path / "src", FILES)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    run = run_cli(["push", f"oci:{tmp_path / 'src'}@{digest}", f"oci:{tmp_path / 'dst'}"], capsys)
    assert run.code == 2
    (line,) = run.err.splitlines()
    assert line.startswith("error: cannot write ") and line.endswith(": No space left on device")
    assert not (tmp_path / "dst").exists()


def test_a_symlink_planted_after_the_plan_is_not_written_through(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from hubsnap.oci import directory

    digest = _layout(tmp_path / "src", FILES)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    real_plan = directory.plan_destinations

    def plan_then_swap(
        target: Path,
        layers: Sequence[tuple[str, Descriptor]],
        *,
        force: bool = False,
        same_file: Callable[[Path, Descriptor], bool] | None = None,
    ) -> directory.DestinationPlan:
        plan = real_plan(target, layers, force=force, same_file=same_file)
        (out / "sub").rmdir()
        (out / "sub").symlink_to(elsewhere)  # swapped in between checking and writing
        return plan

    monkeypatch.setattr("hubsnap.api.transfer.plan_destinations", plan_then_swap)
    run = _pull(tmp_path / "src", digest, out, capsys)
    _one_line(run, 6, f"refusing to write through {out / 'sub'}: it moved")
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["sub"]


def test_a_refusal_naming_a_bidi_path_prints_it_escaped(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "x\u202egnp.exe"
    digest = _layout(tmp_path / "src", {name: b"new\n"})
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_bytes(b"mine\n")
    run = _pull(tmp_path / "src", digest, out, capsys)
    assert run.code == 2
    assert "\u202e" not in run.err
    assert "\\u202e" in run.err.splitlines()[0]


@pytest.mark.parametrize("verb", ["push", "inspect"])
def test_a_store_option_naming_a_file_is_exit_2_for_every_verb(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    plain = tmp_path / "plain-file"
    plain.write_bytes(b"x")
    argv = [verb, "sha256:" + "0" * 64, "--store", str(plain)]
    if verb == "push":
        argv.insert(2, f"oci:{tmp_path / 'dst'}")
    run = run_cli(argv, capsys)
    _one_line(run, 2, f"cannot use store {plain}: it is not a directory")
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("into", ["dir", "store"])
def test_a_blob_longer_than_its_descriptor_is_cut_off_while_it_streams(
    transfer_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], into: str
) -> None:
    digest = _layout(tmp_path / "src", FILES)
    layer = sha256_bytes(FILES["sub/model.bin"])
    blob = LayoutStore(tmp_path / "src").blob_path(layer)
    blob.chmod(0o644)
    with blob.open("ab") as grow:  # the right bytes, then 8 MiB more
        grow.write(b"\0" * (8 << 20))
    out = tmp_path / "out"
    argv = ["pull", f"oci:{tmp_path / 'src'}@{digest}"] + (
        ["-o", str(out)] if into == "dir" else []
    )
    run = run_cli(argv, capsys)
    expected = f"blob {layer} is larger than the {len(FILES['sub/model.bin'])} bytes"
    _one_line(run, 6, expected + " its descriptor says")
    assert not out.exists()
    assert list((transfer_env / "store").glob("ingest/*")) == []
    assert not LayoutStore(transfer_env / "store").has_blob(layer)
