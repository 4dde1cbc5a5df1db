"""Every generated bad input ends in one clear error and changes nothing (see tests/bad_inputs.py)."""

import re
from pathlib import Path

from .bad_inputs import CATEGORIES, run_corpus

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_bad_input_gets_a_clear_error(tmp_path, hc18_synthetic, tiny_run):
    outcomes = run_corpus(tmp_path / "corpus", hc18_synthetic, tiny_run)
    unclear = [f"{o.bad.name}: {o.why} | {o.message.strip()[:300]}" for o in outcomes if not o.clear]
    assert not unclear, "\n".join(unclear)
    assert {o.bad.category for o in outcomes} == set(CATEGORIES)
    assert not (tmp_path / "corpus" / "pwned").exists()  # no planted payload ran
    # README quotes the count this corpus produces
    quoted = re.search(r"(\d+) clear errors / (\d+) cases tried", README.read_text())
    assert quoted and (int(quoted[1]), int(quoted[2])) == (sum(o.clear for o in outcomes), len(outcomes))
