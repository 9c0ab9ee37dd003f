"""The dialer: one greenlet per node that works the running campaigns.

Each pass claims due contacts (FOR UPDATE SKIP LOCKED, so nodes never take the same one) and
decides on each at that moment with the contact rules (policy.py): the do-not-contact list
and opt-outs as they are now, the weekly cap across campaigns, quiet hours and the call window
in the customer's time zone. SMS and email go through the outbox at the campaign's rate, so the
adapters' own throttles and retries apply. Voice asks this node's voice adapter to dial: as
many calls as free agents (progressive), as the pacer says (predictive), or an offer of the
record to an agent who then dials (preview).
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import gevent
import phonenumbers
from phonenumbers import timezone as number_zones

from ..clock import Clock
from ..mail.compose import new_message_id
from ..settings.outbound import BUILTIN_PLACEHOLDERS, CampaignSettings, OutboundSection, template_fields
from ..store import Store, advisory_key
from ..store import campaigns as store_campaigns
from ..store.campaigns import Campaign
from ..store.campaigns import attempts as campaign_attempts
from ..store.campaigns import lists as campaign_lists
from ..store.campaigns.lists import DueContact
from .contacts import ImportReport, import_csv
from .pacing import Pacer
from .policy import Customer, Verdict, may_contact, rules_of

log = logging.getLogger(__name__)
CLAIM_AT_MOST = 200  # contacts one pass takes for one campaign


class VoiceDialing(Protocol):
    def can_dial(self) -> bool: ...

    def dial_campaign(self, attempt_id: int, number: str, campaign: Campaign,
                      report: Callable[[bool, bool], None], leg: str) -> None: ...


def zone_of(contact: DueContact, default: str) -> str:
    """The customer's time zone: the list's, else the number's when it has only one, else the default."""
    if contact.time_zone:
        return contact.time_zone
    if contact.address.startswith("+"):
        try:
            zones = number_zones.time_zones_for_number(phonenumbers.parse(contact.address))
        except phonenumbers.NumberParseException:
            zones = ()
        if len(zones) == 1 and zones[0] != "Etc/Unknown":
            return zones[0]
    return default


def verdict(contact: DueContact, campaign: Campaign, section: OutboundSection, now: datetime) -> Verdict:
    customer = Customer(do_not_contact=contact.do_not_contact, opted_out=contact.opted_out,
                        time_zone=zone_of(contact, section.default_time_zone), recent_contacts=contact.recent)
    return may_contact(customer, campaign.channel, rules_of(section, campaign.settings), now)


def render(template: str, campaign: Campaign, contact: DueContact) -> str:
    values = {"name": contact.name or "", "campaign": campaign.settings.title or campaign.name,
              "phone": contact.address if campaign.channel != "email" else "",
              "email": contact.address if campaign.channel == "email" else "", **contact.fields}
    return template.format_map(values)


def check_template_columns(settings: CampaignSettings, columns: set[str]) -> str | None:
    missing = (template_fields(settings.template) | template_fields(settings.subject)) - columns - set(
        BUILTIN_PLACEHOLDERS)
    if missing:
        return f"the template uses {', '.join('{' + m + '}' for m in sorted(missing))}, which the list has no column for"
    return None


@dataclass
class _Bucket:
    tokens: float
    at: datetime


class Dialer:
    def __init__(self, store: Store, section: OutboundSection, clock: Clock, node: str, region: str,
                 adapter_for: Callable[[str], tuple[str, str | None] | None],
                 voice: Callable[[], VoiceDialing | None], default_queue: str = "general"):
        self.store = store
        self.section = section
        self.clock = clock
        self.node = node
        self.region = region
        self.adapter_for = adapter_for
        self.voice = voice
        self.default_queue = default_queue  # where answers to a message campaign without a queue wait
        self.pacers: dict[int, Pacer] = {}
        self._buckets: dict[int, _Bucket] = {}
        self._loop: gevent.Greenlet | None = None
        self.passes = 0
        self.last_error: str | None = None
        self._message_campaigns: bool | None = None  # any SMS or email campaign, for reply linking

    # Campaigns and their contacts -----------------------------------------------------------

    def save(self, settings: CampaignSettings, queue_ids: dict[str, int], actor: str) -> Campaign:
        with self.store.transaction() as conn:
            campaign_id = store_campaigns.save(conn, settings, queue_ids.get(settings.queue or self.default_queue),
                                               actor, self.clock.now())
            campaign = store_campaigns.get(conn, campaign_id)
        assert campaign is not None
        return campaign

    def import_contacts(self, campaign: Campaign, data: bytes | str) -> tuple[ImportReport, int, int]:
        """A CSV list into the campaign: (the row report, contacts added, already in it). Rows
        are checked one by one; the good ones are kept even when others are refused."""
        report = import_csv(data, campaign.channel, self.region)
        if report.contacts:
            columns = {"name", "phone", "email", *report.contacts[0].fields}
            problem = check_template_columns(campaign.settings, columns)
            if problem:
                report.errors.insert(0, (1, problem))
                report.contacts.clear()
        added = already = 0
        if report.contacts:
            with self.store.transaction() as conn:
                added, already = campaign_lists.add_contacts(conn, campaign, report.contacts, self.clock.now())
        return report, added, already

    def load_config(self, campaigns: list[CampaignSettings], queue_ids: dict[str, int], base_dir: Path) -> None:
        """[[campaigns]] of cic.toml: created or updated, their lists and segments imported
        (a repeated import adds nobody twice)."""
        for settings in campaigns:
            campaign = self.save(settings, queue_ids, "config")
            if settings.contacts_csv:
                path = Path(settings.contacts_csv)
                report, added, already = self.import_contacts(campaign, (path if path.is_absolute() else
                                                                          base_dir / path).read_bytes())
                log.info("campaign %s: %s from %s (%d new, %d already in it)", campaign.name, report.summary,
                         path, added, already)
                for row, problem in report.errors:
                    log.warning("campaign %s: %s row %d: %s", campaign.name, path, row, problem)
            if settings.segment:
                with self.store.transaction() as conn:
                    added = campaign_lists.add_segment(conn, campaign, settings.segment, self.clock.now())
                log.info("campaign %s: %d customer(s) of the segment added", campaign.name, added)

    # The loop -------------------------------------------------------------------------------

    def start(self) -> None:
        # Calls left under way by an earlier run of this node are settled by its voice adapter
        # once it can ask the switch about them (adapters/voice/campaign.py, reconcile_campaign_calls).
        self._loop = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.kill()

    def _run(self) -> None:
        backoff = self.section.tick_s
        while True:
            try:
                self.tick()
                self.last_error, backoff = None, self.section.tick_s
            except Exception as exc:  # the database away, a bug: keep the loop, say why
                log.exception("dialer pass failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
                backoff = min(30.0, backoff * 2)
            gevent.sleep(backoff)

    def tick(self) -> int:
        """One pass over the running campaigns; the attempts started."""
        self.passes += 1
        with self.store.transaction() as conn:
            running = store_campaigns.all_campaigns(conn, state="running")
            self._message_campaigns = store_campaigns.has_message_campaigns(conn)
        started = 0
        for campaign in running:
            started += self.step(campaign)
        return started

    def step(self, campaign: Campaign) -> int:
        now = self.clock.now()
        if campaign.channel == "voice":
            with self.store.transaction() as conn:  # only calls wait for their agent's wrap-up
                campaign_attempts.settle_closed(conn, campaign, now)
            started = self._voice_step(campaign, now)
        else:
            started = self._message_step(campaign, now)
        with self.store.transaction() as conn:
            if store_campaigns.finished(conn, campaign.id):
                store_campaigns.set_state(conn, campaign.id, "finished", now)
                log.info("campaign %s finished: every contact is done with", campaign.name)
        return started

    def _decide(self, conn, campaign: Campaign, contacts: list[DueContact], now: datetime) -> list[DueContact]:
        """The contacts the rules allow now; the others are deferred or refused, with the reason."""
        allowed = []
        for contact in contacts:
            answer = verdict(contact, campaign, self.section, now)
            if answer.allowed:
                allowed.append(contact)
            elif answer.retry_at is not None:
                campaign_lists.defer(conn, campaign, contact, answer.retry_at, answer.reason, now)
            else:
                campaign_lists.refuse(conn, campaign, contact, answer.reason, now)
        return allowed

    def link_replies(self, contacts, results) -> None:
        """After ingest: a customer's new SMS or email conversation within a message
        campaign's reply window is a reply to that campaign (it waits in the queue as usual)."""
        if self._message_campaigns is False:
            return  # no message campaign: nothing to link, and no transaction spent on it
        ids = [r.interaction_id for c, r in zip(contacts, results, strict=True)
               if not isinstance(r, Exception) and r.new_interaction and not r.duplicate
               and c.channel.value in ("sms", "email")]
        if not ids:
            return
        with self.store.transaction() as conn:
            for interaction_id, campaign_id in campaign_attempts.link_replies(conn, ids, self.clock.now()):
                log.info("interaction %s answers campaign %s", interaction_id, campaign_id)

    # SMS and email ----------------------------------------------------------------------------

    def _message_step(self, campaign: Campaign, now: datetime) -> int:
        adapter = self.adapter_for(campaign.channel)
        if adapter is None:
            return 0  # no adapter here sends on this channel; a node that has one works it
        rate = campaign.settings.rate_per_s
        bucket = self._buckets.setdefault(campaign.id, _Bucket(tokens=rate, at=now))
        bucket.tokens = min(rate * 2, bucket.tokens + rate * max(0.0, (now - bucket.at).total_seconds()))
        bucket.at = now
        budget = min(CLAIM_AT_MOST, int(bucket.tokens))
        if budget <= 0:
            return 0
        name, our_address = adapter
        sent = 0
        with self.store.transaction() as conn:
            for contact in self._decide(conn, campaign, campaign_lists.claim_due(conn, campaign, now, budget), now):
                try:
                    text = render(campaign.settings.template, campaign, contact)
                    subject = render(campaign.settings.subject, campaign, contact) or None
                except (KeyError, IndexError) as exc:
                    campaign_lists.refuse(conn, campaign, contact, f"the template needs {exc} for this contact", now)
                    continue
                message_id = (new_message_id((our_address or "").rpartition("@")[2] or "cic.invalid")
                              if campaign.channel == "email" else None)
                campaign_attempts.start_message(conn, campaign, contact, self.node, name, our_address, text, subject,
                                              message_id, now)
                sent += 1
        bucket.tokens -= sent
        return sent

    # Voice ------------------------------------------------------------------------------------

    def pacer(self, campaign: Campaign) -> Pacer:
        pacer = self.pacers.get(campaign.id)
        if pacer is None:
            pacer = self.pacers[campaign.id] = Pacer(max_abandon_rate=campaign.settings.max_abandon_rate,
                                                     max_ratio=campaign.settings.max_ratio)
            with self.store.transaction() as conn:
                for answered, abandoned in campaign_attempts.recent_voice_outcomes(conn, campaign.id):
                    pacer.record(answered, abandoned)
        pacer.max_abandon_rate, pacer.max_ratio = campaign.settings.max_abandon_rate, campaign.settings.max_ratio
        return pacer

    def _voice_step(self, campaign: Campaign, now: datetime) -> int:
        voice = self.voice()
        if voice is None or campaign.queue_id is None or not voice.can_dial():
            return 0  # no switch to dial through here now: a contact's attempt is not spent on that
        mode = campaign.settings.mode
        pacer = self.pacer(campaign)
        to_dial: list[tuple[int, str, str]] = []
        with self.store.transaction() as conn:
            # One node at a time decides for a campaign, so two nodes never both dial for the same free agents.
            if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                (advisory_key(f"campaign:{campaign.id}"),)).fetchone()[0]:
                return 0
            free = campaign_attempts.free_agents(conn, campaign.queue_id)
            ringing, waiting = campaign_attempts.under_way(conn, campaign.id)
            if mode == "predictive":
                wanted = pacer.calls_to_place(free, ringing, waiting)
            else:
                wanted = free - ringing - waiting
            contacts = campaign_lists.claim_due(conn, campaign, now, min(CLAIM_AT_MOST, wanted))
            previews = 0
            for contact in self._decide(conn, campaign, contacts, now):
                if mode == "preview":
                    campaign_attempts.preview(conn, campaign, contact, self.node, now)
                    previews += 1
                else:
                    # The call's UUID is ours, on record before it rings: a restart can hang it up.
                    leg = str(uuidlib.uuid4())
                    to_dial.append((campaign_attempts.start_attempt(conn, campaign, contact, self.node, now,
                                                                  call_uuid=leg), contact.address, leg))
        if mode == "preview":
            return previews
        report = pacer.record
        for attempt_id, number, leg in to_dial:
            voice.dial_campaign(attempt_id, number, campaign, report, leg)
        return len(to_dial)
