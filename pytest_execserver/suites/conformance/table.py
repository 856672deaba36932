"""The conformance table: each behaviour (scenario) and whether the server under test matches codex."""

from __future__ import annotations

from dataclasses import dataclass, field

# the release named when no scenario got as far as a server (each scenario reports the release it was judged
# against: the server's own for codex@VERSION, --codex-version or this default for other servers)
CODEX_VERSION = "0.171.0"


@dataclass
class Table:
    rows: dict[str, str] = field(default_factory=dict)

    def add(self, behaviour: str, outcome: str, mismatches: object = None) -> None:
        if outcome == "passed" and behaviour not in self.rows:
            self.rows[behaviour] = "yes"
        elif outcome == "skipped":
            self.rows[behaviour] = "skipped"
        elif isinstance(mismatches, int) and mismatches:
            self.rows[behaviour] = f"NO ({mismatches} observation{'s differ' if mismatches > 1 else ' differs'})"
        else:
            self.rows[behaviour] = "NO (did not complete)"

    def lines(self) -> list[str]:
        width = max(len("behaviour"), *(len(b) for b in self.rows))
        out = [f"{'behaviour':<{width}}  matches codex", f"{'-' * width}  -------------"]
        out += [f"{b:<{width}}  {v}" for b, v in sorted(self.rows.items())]
        same = sum(1 for v in self.rows.values() if v == "yes")
        out.append(f"{same}/{len(self.rows)} behaviours match codex")
        return out
