"""The terminal agent: reads chip cards beside a till or lunch line and posts them to the terminal API.

A standalone program (stdlib, pyscard, httpx; never Django), installed with the `agent` extra and
started as `cardsystem-agent` or `python -m terminals.agent`. See docs/running-a-till.md.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
