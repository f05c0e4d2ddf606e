"""The contract of derived indexes: follow the store's publish events, catch up from its generation.

A derived index (the portal's search index, the change log, OGC API Records, the CSW repository, the layers)
is rebuilt from the store and never edited by hand. ``Platform.open`` subscribes every follower to the store and,
at start-up, lets each one that is not in step catch up; so a new index is a new class, not new wiring.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Follower:
    """A derived index of the store; ``follow`` is required, the rest have defaults."""

    def follow(self, store, event) -> None:
        """Apply one publish event (sparql.store.PublishEvent: datasets put, created, removed)."""
        raise NotImplementedError

    def in_step_with(self, store) -> bool:
        """Tell whether the index already reflects the store (an index with no memory of its own always is)."""
        return True

    def catch_up(self, store) -> None:
        """Bring the index level with the store after events it missed (a crash, a write by another process)."""
        self.rebuild(store)

    def rebuild(self, store) -> None:
        """Build the index again from the whole store."""

    def skipped(self) -> dict[str, str]:
        """Return the datasets the index had to leave out (identifier -> reason); none by default."""
        return {}


def catch_up_all(followers, store) -> list[str]:
    """Let every follower that is not in step with the store catch up; return their class names."""
    behind = []
    for follower in followers:
        name = type(follower).__name__
        try:  # one index that cannot catch up is reported; the others, and the server, go on
            if not follower.in_step_with(store):
                behind.append(name)
                follower.catch_up(store)
        except Exception as exc:
            log.exception("%s could not catch up with the store: %s", name, str(exc)[:500])
    return behind
