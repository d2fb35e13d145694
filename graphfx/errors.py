"""Exception types for user errors; the CLI turns each into one line and exit code 2."""
from typing import Optional


class GraphFXError(Exception):
    """Base class of every error caused by bad user input."""


class GraphError(GraphFXError):
    """An invalid or malformed audio processing graph.

    Args:
        rule: the rule broken, e.g. ``"cycle"`` or ``"unknown-port"``.
        message: what is wrong, for humans.
        node: id of the offending node, when there is one.
    """

    def __init__(self, rule: str, message: str, node: Optional[str] = None):
        self.rule, self.node = rule, node
        where = f"node {node!r}: " if node is not None else ""
        super().__init__(f"{where}{message} [{rule}]")


class AudioError(GraphFXError):
    """Unreadable, empty or otherwise unusable audio."""
