"""``may_write``: which ``fs/*`` writes a restricted sandbox allows (all paths inside tmp_path)."""

from __future__ import annotations

from pathlib import Path

from execserver_ref.sandbox import SandboxPolicy, may_write


def test_writes_resolve_symlinks_and_dot_dot(tmp_path: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (rw / "link").symlink_to(ro)
    policy = SandboxPolicy(restricted=True, writable=(str(rw),))
    assert may_write(policy, str(rw / "f"))
    assert may_write(policy, str(rw))
    assert not may_write(policy, str(ro / "f"))
    assert not may_write(policy, f"{rw}/../ro/f")
    assert not may_write(policy, str(rw / "link" / "f"))
    assert not may_write(policy, str(rw / "link"))  # writing through the link writes ro/
    assert may_write(policy, str(rw / "link"), follow_final=False)  # removing the link itself is fine
    assert not may_write(policy, str(tmp_path / "rwx" / "f"))  # a sibling sharing the prefix is not inside
    assert may_write(None, str(ro / "f")) and may_write(SandboxPolicy(restricted=False), str(ro / "f"))
