"""The contract of derived indexes: follow the store's publish events, catch up from its generation.

A derived index (the portal's search index, the change log, OGC API Records, the CSW repository, the layers)
is rebuilt from the store and never edited by hand. ``Platform.open`` subscribes every follower to the store and,
at start-up, lets each one that is not in step catch up; so a new index is a new class, not new wiring.
"""

from __future__ import annotations


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


def catch_up_all(followers, store) -> list[str]:
    """Let every follower that is not in step with the store catch up; return their class names."""
    behind = [f for f in followers if not f.in_step_with(store)]
    for follower in behind:
        follower.catch_up(store)
    return [type(f).__name__ for f in behind]
