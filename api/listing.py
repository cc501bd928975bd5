"""A huge directory listed by two processes at once: the API and the server's worker.

Every entry costs an lstat and most an open and a read, so the sorted names of a scanned
:class:`~wingspan.filesystem.listing.Listing` are cut into batches and both processes list
them, each taking the first batch nobody has taken yet: the worker is kept ``AHEAD``
batches ahead, and this process lists the next free batch whenever the worker's oldest
answer is not in. The shares then follow the speed of each side (this process also serves
every other request to the node), and as both take batches from the front, answers come
back nearly in order and few wait to be sent.
"""

import collections
import logging

from wingspan import envelope, errors

log = logging.getLogger(__name__)

# Entries per hand-off to a thread and per request to the worker: a thousand Stat objects
# stay far below the bus's message limit even when every name is 255 escaped characters.
BATCH = 1000
AHEAD = 3
HELP_TIMEOUT = 10.0
# Batches listed but not yet sent: past this many, this process waits for the worker's
# answer the stream needs next rather than listing further ahead of it.
HELD_MAX = 16


class SharedListing:
    """The JSON array members of a scanned listing, batch by batch and in order, listed
    here and by the server's worker.

    Args:
        listing: a scanned :class:`Listing` (the caller closes it).
        ask: ``ask(names)`` sends ``server.list_entries`` for ``names``; returns the
            :class:`~wingspan.bus.PendingCall`.
        run: ``run(func, *args)`` off the hub.
        server: the server's uuid, for the log.

    Should the worker fail or be away, this process lists the rest itself.
    """

    def __init__(self, listing, ask, run, server):
        names = listing.names
        self.listing = listing
        self.batches = [names[i:i + BATCH] for i in range(0, len(names), BATCH)]
        self.ask = ask
        self.run = run
        self.server = server
        # The bus carries UTF-8: names with undecodable bytes are never sent.
        self.helped = len(self.batches) > 1 and listing.names_are_utf8
        self.asked = collections.deque()  # (batch index, PendingCall), oldest first
        self.listed = {}  # batch index -> members not yet yielded
        self.given_back = collections.deque()  # batches asked of a worker that failed
        self.next_free = 0

    def members(self):
        """Each batch's members (:meth:`Listing.encoded`), in order; pending requests are
        forgotten when the stream ends, also when it is cut short."""
        try:
            for index in range(len(self.batches)):
                while index not in self.listed:
                    self._step()
                yield self.listed.pop(index)
        finally:
            self._forget_asked()

    def _step(self):
        self._keep_worker_busy()
        oldest = self.asked[0][1] if self.asked else None
        if oldest is not None and (oldest.ready() or not self._free_left()
                                   or len(self.listed) >= HELD_MAX):
            self._collect_oldest_answer()
        else:
            index = self._take()
            self.listed[index] = self.run(self.listing.encoded, self.batches[index])

    def _keep_worker_busy(self):
        while self.helped and len(self.asked) < AHEAD and self.next_free < len(self.batches):
            index = self._take()
            self.asked.append((index, self.ask(self.batches[index])))

    def _free_left(self):
        return bool(self.given_back) or self.next_free < len(self.batches)

    def _take(self):
        if self.given_back:
            return self.given_back.popleft()
        self.next_free += 1
        return self.next_free - 1

    def _collect_oldest_answer(self):
        index, pending = self.asked.popleft()
        members = self._answer_of(pending)
        if members is not None:
            self.listed[index] = members
            return
        self.helped = False
        self.given_back.append(index)
        self.given_back.extend(asked for asked, _ in self.asked)
        self._forget_asked()

    def _answer_of(self, pending):
        try:
            answer = pending.result()
        except errors.WingspanError as e:
            log.warning("listing of %s goes on without its worker: %s", self.server, e)
            return None
        if not isinstance(answer, envelope.Attached):
            log.warning("listing of %s goes on without its worker: no entries attached",
                        self.server)
            return None
        return answer.data

    def _forget_asked(self):
        while self.asked:
            self.asked.popleft()[1].discard()
