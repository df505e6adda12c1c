"""`capwatch status`'s one picture of Capx: over REST, no streams, within a small share of the key's minute.

The key's minute belongs to every process using the key, and the operator's monitor spends it on its streams and
resyncs. Reading every company's agents, tasks and costs was 1 + 3 x companies requests: 901 at 300 companies, three
Pro minutes, and one `status` drained the monitor's minute (429s for it). So `status` reads:

- the company listing, every page of it (one per 100 companies): which companies exist, and each one's status and
  agent count;
- then the agents, tasks and costs (three requests each, a page more past 100 tasks or agents) of as many companies
  as its share of the key's minute allows: at most a tenth of the minute, never fewer than 20 requests, the listing
  included (`status_share`: Starter 20, Pro 30, an Enterprise minute of 6,000: 600), and none out of the last 30 %
  of the key's minute (the room the monitor keeps above its own refreshes for its streams, the operator's company
  and actions), as the replies' `X-RateLimit-Remaining` say it (every process on the key counted). The companies of
  the config's `companies` go first, then the listing's order;
- a failed read of a company's details is tried again within what is left of the share, never the listing again;
- a 429 is the answer of the read it refused, at once (`retry_throttled`): the channel says it, and the next try
  waits in the budget for its Retry-After. A status whose listing was refused (the key's minute spent by other
  processes) waited out the 429 within the call, silently, and reported the listing "connecting" when --wait ran
  out.

What it did not read is said (`not_read`): how many companies' agents, tasks and costs, and why; the listing itself
when it was not read (rate limited: when, and the Retry-After; else the error, or no answer in time).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any, Iterable

from tui.api import ApiError
from tui.live.channel import Poller
from tui.live.store import Store
from tui.vendors.capx.budget import Priority, request_class
from tui.vendors.capx.client import CapxClient
from tui.vendors.capx.live import drop_gone_companies, forget_company, model_rows, publish_capx_figures, resync_company

STATUS_SHARE = 0.1  # of the key's minute, at most, for one `status`
STATUS_FLOOR = 20  # requests: a small fleet (the demo's five companies: 16) is read whole even on Starter
DETAIL_REQUESTS = 3  # a company's agents, tasks and costs
DETAILS = ("agents", "tasks", "costs")


def status_share(minute: int) -> int:
    """The requests one `status` may spend of a key whose minute is `minute`, the listing included."""
    return max(STATUS_FLOOR, math.ceil(minute * STATUS_SHARE))


class CapxSnapshot(Poller):
    """The listing, then the details of the companies the share allows (see the module), as a channel named as the
    company poller, whose place it takes: LIVE once the listing is read; retried on the Poller's short backoff until
    the details it chose are read, then idle. `not_read()`: what it did not read, and why."""

    service = "capx"

    def __init__(self, client: CapxClient, store: Store, first: Iterable[str] = ()):
        super().__init__("capx.companies", store)
        self.client = client
        self.first = list(first)  # companies read before the listing's order (the config's `companies`)
        self.company_ids: list[str] | None = None  # the listing's, once read
        self.chosen: list[str] = []  # the companies whose details are read (or being read)
        self.read: set[str] = set()  # the chosen whose details were read (or which answered 404: gone)
        self.limit = ""  # what stopped it reading more: "share" or "minute" ("" while it has not)
        self.listing_error: ApiError | None = None  # the listing's last failure, while it is not read
        self.listing_error_at = 0.0  # (epoch seconds)
        client.retry_throttled = False  # a 429 answers at once, said, never waited out within a call (see above)

    def interval(self) -> float:
        return 3600.0

    async def poll(self) -> None:
        if self.company_ids is None:
            try:
                with request_class(Priority.STREAM):
                    companies = [company async for company in self.client.iter_companies()]
            except ApiError as error:
                self.listing_error, self.listing_error_at = error, time.time()
                raise
            drop_gone_companies(self.store, model_rows(companies))
            self.company_ids = [company.id for company in companies if company.id]
            listed = set(self.company_ids)
            self.chosen = list(dict.fromkeys([c for c in self.first if c in listed] + self.company_ids))
            self.answered()  # the listing is read: its light says so, whatever the details do
            self.store.mark_complete("capx.companies")
        pending = [company for company in self.chosen if company not in self.read]
        batch = pending[:self.allowance() // DETAIL_REQUESTS]
        if len(batch) < len(pending):
            self.chosen = [company for company in self.chosen if company in self.read] + batch
        failures = [outcome for outcome in await asyncio.gather(*(self._details(c) for c in batch),
                                                                return_exceptions=True) if outcome is not None]
        publish_capx_figures(self.client, self.store)
        if failures:
            raise failures[0]
        for part in DETAILS:
            self.store.mark_complete(f"capx.{part}")

    def allowance(self) -> int:
        """The requests it may spend now on details: what is left of its share, and of the key's minute above the
        room the monitor keeps for its streams and the operator (`Priority.REFRESH`'s reserve)."""
        budget = self.client.budget
        share = status_share(budget.minute) - self.client.requests_sent
        room = budget.minute - budget.reserve(Priority.REFRESH) - budget.used()
        if min(share, room) < DETAIL_REQUESTS * sum(1 for c in self.chosen if c not in self.read) and not self.limit:
            self.limit = "share" if share <= room else "minute"
        return max(0, min(share, room))

    async def _details(self, company_id: str) -> BaseException | None:
        try:
            with request_class(Priority.RESYNC, key=company_id):
                await resync_company(self.client, self.store, company_id)
        except ApiError as error:
            if error.status != 404:
                return error
            forget_company(self.store, company_id, str(error))  # gone since the listing: nothing to read
        self.read.add(company_id)
        return None

    def not_read(self) -> dict[str, Any] | None:
        """The companies whose agents, tasks and costs it did not read (None: it read every listed one's), and
        why, for `status` to say."""
        if self.company_ids is None:
            return self._listing_not_read()
        listed = set(self.store.rows("companies"))
        left = [company for company in self.company_ids if company in listed and company not in self.read]
        if not left:
            return None
        budget = self.client.budget
        share, minute = status_share(budget.minute), budget.minute
        if self.limit == "minute":
            reason = (f"the key's minute had no room for them: {budget.used()} of its {minute} requests spent, by "
                      f"this status and by other processes on the key (a running monitor), which status leaves the "
                      f"last {budget.reserve(Priority.REFRESH)} to")
        else:
            reason = (f"status spends at most {share} of the key's {minute} requests a minute (a tenth, at least "
                      f"{STATUS_FLOOR}); the monitor reads them all")
        return {"companies": len(left), "of": len(listed), "parts": list(DETAILS), "share": share, "minute": minute,
                "spent": self.client.requests_sent, "reason": reason,
                "summary": f"the agents, tasks and costs of {len(left)} of {len(listed)} companies: {reason}"}

    def _listing_not_read(self) -> dict[str, Any]:
        """The listing was not read before --wait ran out, so nothing of any company was: why."""
        budget, error = self.client.budget, self.listing_error
        note: dict[str, Any] = {"companies": None, "of": None, "parts": ["listing", *DETAILS],
                                "share": status_share(budget.minute), "minute": budget.minute,
                                "spent": self.client.requests_sent, "rate_limited": False, "retry_after_s": None}
        if error is not None and error.status == 429:
            retry = error.retry_after
            note.update(rate_limited=True, retry_after_s=None if retry is None else round(retry))
            at = time.strftime("%H:%M:%S", time.localtime(self.listing_error_at))
            wait = "" if retry is None else f", Retry-After {retry:.0f} s"
            reason = (f"rate limited: HTTP 429 at {at}{wait} ({error.message}): the key's requests are spent by other "
                      f"processes on it (a running monitor, a script), and --wait ran out before the server would "
                      f"take the listing")
        elif error is not None:
            reason = f"the listing failed: {error}"
        else:
            reason = "the server did not answer the listing before --wait ran out"
        note.update(reason=reason, summary=f"the company listing, so no company's agents, tasks and costs: {reason}")
        return note
