"""fillproof for Python tests: `fillproof serve` as a pytest fixture.

The pytest plugin registers itself on install (entry point `pytest11`);
`Served` runs a session without pytest.
"""

from .served import KEY, SECRET, FillproofError, Report, Served, ShortFall, find_binary

__all__ = ["KEY", "SECRET", "FillproofError", "Report", "Served", "ShortFall", "find_binary"]
__version__ = "0.1.0"
