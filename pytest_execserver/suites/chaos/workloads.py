"""The processes both chaos suites run, each with the exact bytes it must deliver (pure: no I/O)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Workload:
    """A process and the exact bytes it must deliver."""

    name: str
    argv: tuple[str, ...]
    stdout: bytes
    stderr: bytes = b""
    exit_code: int = 0
    nominal_s: float = 0.0  # how long the process itself runs, roughly (paced workloads)
    files: dict[str, bytes] = field(default_factory=dict)  # written into the scratch dir first
    stdin: bytes | None = None  # written to the process's stdin (process/write)

    @property
    def size(self) -> int:
        return len(self.stdout) + len(self.stderr)


def seq_lines(first: int, last: int) -> bytes:
    """What ``seq first last`` prints."""
    return "".join(f"{i}\n" for i in range(first, last + 1)).encode()


def seq_workload(n: int) -> Workload:
    """``seq 1 n``: a burst of ``n`` lines (n=20000 is 108894 bytes)."""
    return Workload(f"seq{n}", ("seq", "1", str(n)), seq_lines(1, n))


def blob_workload(size: int, seed: int) -> Workload:
    """A seeded random binary file (every byte value) copied to stdout with ``cat``."""
    data = random.Random(seed).randbytes(size)
    name = f"blob-{seed}-{size}.bin"
    return Workload(f"blob{size}", ("/bin/cat", name), data, files={name: data})


def paced_workload(batches: int, per_batch: int = 200, sleep_s: float = 0.02, *, stderr: bool = True,
                   exit_code: int = 3) -> Workload:
    """``batches`` x (``per_batch`` seq lines on stdout, one ``err-i`` line on stderr, sleep): a stream
    that lasts about ``batches * sleep_s`` seconds, so faults land in the middle of it."""
    script = (
        f"i=1; while [ $i -le {batches} ]; do "
        f"seq $(( (i-1)*{per_batch}+1 )) $(( i*{per_batch} )); "
        + ("echo err-$i >&2; " if stderr else "")
        + f"i=$((i+1)); sleep {sleep_s}; done; exit {exit_code}"
    )
    err = "".join(f"err-{i}\n" for i in range(1, batches + 1)).encode() if stderr else b""
    return Workload(f"paced{batches}x{per_batch}", ("/bin/sh", "-c", script), seq_lines(1, batches * per_batch),
                    err, exit_code, nominal_s=batches * sleep_s)
