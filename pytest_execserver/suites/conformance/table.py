"""The conformance table: each behaviour (scenario) and whether the server under test matches codex."""

from __future__ import annotations

from dataclasses import dataclass, field

CODEX_VERSION = "0.169.0"  # the expected values in scenarios.py are what this codex does on the wire


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
