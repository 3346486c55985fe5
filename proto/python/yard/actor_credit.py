"""A replica's credit shared over the brokers it serves (its links), as proto/actor_credit.c:
so that it never holds more requests than its credit in total however the brokers' load is
spread (protocol 6.1).

Each link has a share (the credit its READY offered). A share grows at once (a READY with the
higher value); it shrinks only through a READY with the lower value that the broker answers,
and until that answer the old value still counts, since the broker may be sending under it.
Requests from a connection the broker has forgotten (it restarted, or the connection dropped)
still run: they count as stale until answered, and a new connection's share is trimmed so that
the total still holds. Credit moves to a hungry link: one whose share is used up, or whose
broker said (HEARTBEAT credit: its queue length) that requests wait; it comes from credit no
link holds, or from another link's unused share, half of it at a time. With one link the share
is the whole credit and nothing here runs. A link offers its share only once connected (the
replica sends READY on the monitor's CONNECTED), so a broker that is down holds no share and
the live links share the whole credit. Pure arithmetic, on the replica's own thread.
"""

from __future__ import annotations

CREDIT_PENDING_MAX = 8  # READYs of one link not answered yet

class LinkCredit:
    """One link's share of the replica's credit (see proto/actor_credit.h): a share grows at
    once, shrinks only through a READY the broker answered; requests of a forgotten
    connection count as stale until answered."""

    __slots__ = ("offer", "acked", "sent", "held", "stale", "demand", "gen", "ready_due", "live")

    def __init__(self, offer: int) -> None:
        self.offer, self.acked, self.sent = offer, 0, []
        self.held = self.stale = self.demand = self.gen = 0
        self.ready_due = self.live = False

    def reserved(self) -> int:
        """The credit this link counts against the total now."""
        return max([self.acked, self.held] + self.sent) + self.stale

    def took(self) -> int:
        """A request arrived on this link; returns the generation to answer it with."""
        self.held += 1
        self.demand = 0
        return self.gen

    def gave(self, gen: int) -> None:
        """A request of generation gen was answered (stale when the link was forgotten)."""
        if gen == self.gen:
            self.held -= self.held > 0
        else:
            self.stale -= self.stale > 0

    def acked_value(self, credit: int) -> None:
        """The broker answered a READY with `credit`: answers come in the order the READYs
        went, and the value says which one it is (an answer to a READY sent before a forget
        cannot settle a newer one)."""
        if credit in self.sent:
            k = self.sent.index(credit)
            del self.sent[:k + 1]
            self.acked = credit

    def hunger(self) -> int:
        """How much this link wants more: its broker's queue, or 1 when its share is used up."""
        if not self.live:
            return 0
        if self.demand:
            return self.demand
        return 1 if self.offer > 0 and self.held >= self.offer else 0

    def spare(self) -> int:
        """Credit to give away: half of the unused share (rounded up), only from a live link
        with no change pending, so that two busy links settle instead of trading back."""
        if not self.live or self.sent or self.ready_due or self.offer <= self.held:
            return 0
        return (self.offer - self.held + 1) // 2


class SharedCredit:
    """The credit of one replica over its n links (actor_credit.c, same rules)."""

    def __init__(self, n: int, total: int) -> None:
        self.total = total
        self.links = [LinkCredit(total // n + (1 if i < total % n else 0)) for i in range(n)]

    def ready_value(self, i: int) -> int:
        """The credit for the READY about to go out on link i, recorded as unanswered."""
        c = self.links[i]
        if len(self.links) == 1:
            c.offer = c.acked = self.total
            return self.total
        if len(c.sent) == CREDIT_PENDING_MAX:
            c.sent.pop(0)
            c.acked = max(c.acked, c.sent[0])
        c.sent.append(c.offer)
        c.ready_due = False
        return c.offer

    def forget(self, i: int) -> None:
        """Link i's broker forgot what it sent: held requests turn stale, the share is
        trimmed to what the other links leave."""
        c = self.links[i]
        c.stale += c.held
        c.held, c.acked, c.sent, c.demand = 0, 0, [], 0
        c.gen += 1
        if len(self.links) == 1:
            return
        others = sum(x.reserved() for x in self.links) - c.reserved()
        room = max(0, self.total - others - c.stale)
        c.offer = min(c.offer, room)

    def balance(self) -> None:
        """Moves credit towards the hungriest live link; marks ready_due where it changed."""
        links = self.links
        if len(links) < 2:
            return
        hungry = max(range(len(links)), key=lambda i: links[i].hunger())
        if links[hungry].hunger() == 0 or len(links[hungry].sent) == CREDIT_PENDING_MAX:
            return
        used = sum(x.reserved() for x in links)
        if used < self.total:
            links[hungry].offer += self.total - used
            links[hungry].demand = 0
            links[hungry].ready_due = True
            return
        for j, c in enumerate(links):
            give = 0 if j == hungry else c.spare()
            if give:
                c.offer -= give
                c.ready_due = True
                return
