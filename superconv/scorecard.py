"""The reproduction scorecard: every claim of the papers beside our numbers, with a verdict.

Each study module (``superconv.studies.*``) knows how to judge the claims its chapter tests. It
exposes ``findings(profile, store=None) -> list[Finding]`` that reads the results store only
(never trains) and returns one :class:`Finding` per claim id of :func:`superconv.paper.claims`
it covers -- with verdict ``"not run"`` when the runs are not in the store.

A verdict is one of :data:`VERDICTS` and is computed by the rule written in ``Finding.rule``.
"""

from __future__ import annotations

from dataclasses import dataclass

VERDICTS = ("reproduced", "partly reproduced", "not reproduced", "not run", "no paper number")


@dataclass(frozen=True)
class Finding:
    """Our result for one claim at one profile.

    ``ours``: our number(s) as text, e.g. ``"88.4 ± 0.3 % vs 89.2 % (n = 3 / 1)"``;
    ``verdict``: one of :data:`VERDICTS`; ``rule``: the rule that computed it, in words;
    ``detail``: what differs from the paper's setup (dataset, model, budget), or how to run it.
    """

    claim_id: str
    profile: str
    ours: str
    verdict: str
    rule: str
    detail: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict={self.verdict!r} is not a verdict; allowed: {', '.join(VERDICTS)}")


def not_run(claim_id: str, profile: str, rule: str, command: str) -> Finding:
    """The finding for a claim whose runs are not in the store: says how to run them."""
    return Finding(claim_id, profile, "—", "not run", rule, f"run: {command}")
