"""Tendermint consensus (Buchman, Kwon, Milosevic 2018, Algorithm 1) as a pure state machine.

Events go in through :meth:`Tendermint.handle` and a list of outputs comes back: messages to
broadcast, timeouts to arm, decisions with their commits and evidence of double signing. The
machine does no I/O, reads no clock and draws no random numbers; timeouts are outputs that the
node hands back as events when they expire. The comments ``(line N)`` refer to Algorithm 1.

Every accepted input and every signing decision is written to the write-ahead log before the
machine acts on it or signs, and :meth:`Tendermint.start` replays the log, so a validator that
crashes and restarts signs again exactly what it signed before and never anything else at the
same height, round and step. A last-signed guard (CometBFT's privval last-sign state) refuses
any signature that would step backwards or change a value already signed.
"""

from __future__ import annotations

import msgspec

from optex.chain.consensus._app import Application, TimeoutConfig
from optex.chain.consensus._errors import ConsensusReason
from optex.chain.consensus._guard import SignGuard
from optex.chain.consensus._messages import (
    PROPOSAL_DOMAIN,
    Broadcast,
    Commit,
    Decided,
    DuplicateVoteEvidence,
    Event,
    EvidenceFound,
    Output,
    Proposal,
    ScheduleTimeout,
    SignIntent,
    Step,
    SyncedBlock,
    Timeout,
    TimeoutKind,
    Value,
    Vote,
    VoteType,
    WalRecord,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from optex.chain.consensus._signing import Signer, Verify
from optex.chain.consensus._validators import Validator, ValidatorSet, address_of
from optex.chain.consensus._verify import (
    check_vote_shape,
    verify_commit,
    verify_proposal,
    verify_vote,
)
from optex.chain.consensus._votes import MAX_VOTES_PER_SLOT, HeightVotes
from optex.chain.consensus._wal import WAL
from optex.core import InvalidInput, check_domain

MAX_PROPOSALS_PER_ROUND = 4
"""A correct proposer sends one proposal per round; an equivocating one gets this many kept."""

MAX_ROUNDS_AHEAD = 100
"""Proposals further ahead are dropped unread: finding their proposer costs one priority step
per round. Votes of any round are kept, and after a round skip the proposal is re-gossiped."""

_STEP_OF = {VoteType.PREVOTE: Step.PREVOTE, VoteType.PRECOMMIT: Step.PRECOMMIT}


_wal_encoder = msgspec.msgpack.Encoder(order="sorted")
_wal_decoder = msgspec.msgpack.Decoder(WalRecord)


class Tendermint:
    """One validator's (or observer's, without a signer) view of consensus.

    ``validators`` is the set of ``height`` with its proposer priorities; the machine advances
    it by one proposer-priority step per decided height. Call :meth:`start` once, then
    :meth:`handle` for each event. Messages that are malformed, unsigned or from non-members
    raise :class:`optex.core.InvalidInput` and change nothing; stale or duplicate ones are
    ignored.
    """

    def __init__(
        self,
        *,
        chain_id: str,
        validators: ValidatorSet,
        height: int,
        application: Application,
        wal: WAL,
        verify: Verify,
        signer: Signer | None = None,
        timeouts: TimeoutConfig | None = None,
    ) -> None:
        check_domain(PROPOSAL_DOMAIN, chain_id)
        if isinstance(height, bool) or not isinstance(height, int) or height < 1:
            raise InvalidInput(ConsensusReason.INVALID_CONFIG, "height must be at least 1")
        self._chain_id = chain_id
        self._validators = validators
        self._app = application
        self._wal = wal
        self._verify = verify
        self._signer = signer
        self._timeouts = timeouts or TimeoutConfig()
        self._address = None if signer is None else address_of(signer.public_key)
        self._height = height
        self._round = 0
        self._step = Step.NEW_HEIGHT
        self._locked_value: Value | None = None
        self._locked_round = -1
        self._valid_value: Value | None = None
        self._valid_round = -1
        self._guard = SignGuard()
        self._replaying = False
        self._recorded: dict[tuple[int, int, Step], SignIntent] = {}
        self._started = False
        self._out: list[Output] = []
        self._reset_height_state()

    def _reset_height_state(self) -> None:
        self._votes = HeightVotes(self._validators)
        self._proposals: dict[int, dict[bytes, Proposal]] = {}
        self._proposers: dict[int, Validator] = {}
        self._validity: dict[Value, bool] = {}
        self._polka_seen: set[int] = set()
        self._prevote_wait: set[int] = set()
        self._precommit_wait: set[int] = set()
        self._evidenced: set[tuple[bytes, int, VoteType]] = set()
        self._own: dict[tuple[int, Step], Proposal | Vote] = {}

    # -- read-only view -------------------------------------------------------------------

    @property
    def height(self) -> int:
        """The height being decided."""
        return self._height

    @property
    def round(self) -> int:
        """The current round of :attr:`height`."""
        return self._round

    @property
    def step(self) -> Step:
        """The current step of :attr:`round`."""
        return self._step

    @property
    def locked_value(self) -> Value | None:
        """``lockedValue``: the value this validator precommitted most recently."""
        return self._locked_value

    @property
    def locked_round(self) -> int:
        """``lockedRound``: the round of :attr:`locked_value`, or -1."""
        return self._locked_round

    @property
    def valid_value(self) -> Value | None:
        """``validValue``: the most recent value seen with a polka (2f+1 prevotes)."""
        return self._valid_value

    @property
    def valid_round(self) -> int:
        """``validRound``: the round of :attr:`valid_value`, or -1."""
        return self._valid_round

    @property
    def validators(self) -> ValidatorSet:
        """The validator set of :attr:`height`."""
        return self._validators

    @property
    def address(self) -> bytes | None:
        """This validator's address, or ``None`` for an observer."""
        return self._address

    def proposer(self, round: int) -> Validator:
        """The proposer of ``round`` at the current height."""
        found = self._proposers.get(round)
        if found is None:
            found = self._proposers[round] = self._validators.proposer_for_round(round)
        return found

    # -- inputs -----------------------------------------------------------------------------

    def start(self) -> list[Output]:
        """Start round 0, or recover from the write-ahead log after a restart.

        After a restart the outputs are the decisions found in the log (which the node may
        already have applied: it should skip heights it has), the timeouts that were armed and
        had not fired, and this validator's own messages of the current height to re-send.
        """
        if self._started:
            raise InvalidInput(ConsensusReason.INVALID_CONFIG, "the state machine already started")
        self._started = True
        try:
            records = [_wal_decoder.decode(raw) for raw in self._wal.replay()]
        except msgspec.DecodeError as exc:
            raise InvalidInput(ConsensusReason.WAL_CORRUPT, f"cannot decode: {exc}") from exc
        if not records:
            self._enter_new_round(self._height, 0)
            self._progress(self._round)
            return self._take()
        return self._replay(records)

    def handle(self, event: Event) -> list[Output]:
        """Process one event and return what to do about it."""
        if not self._started:
            raise InvalidInput(ConsensusReason.INVALID_CONFIG, "call start() before handle()")
        if isinstance(event, Vote):
            self._on_vote(event)
        elif isinstance(event, Proposal):
            self._on_proposal(event)
        elif isinstance(event, Timeout):
            self._on_timeout(event)
        elif isinstance(event, SyncedBlock):
            self._on_synced(event)
        else:
            raise InvalidInput(ConsensusReason.INVALID_MESSAGE, f"{type(event).__name__}")
        return self._take()

    def gossip(self) -> list[Proposal | Vote]:
        """The messages of this height worth re-sending to peers now.

        Before GST messages are lost, and Algorithm 1 assumes that whatever one correct process
        receives every correct process eventually receives. A node restores that by re-sending
        these periodically: the proposals and votes of the current and previous round and of
        the rounds a lock, a valid value or the current proposal refers to.
        """
        rounds = {self._round, self._round - 1, self._valid_round, self._locked_round}
        rounds.update(p.pol_round for p in self._proposals.get(self._round, {}).values())
        messages: list[Proposal | Vote] = []
        for r in sorted(r for r in rounds if r >= 0):
            messages.extend(self._proposals.get(r, {}).values())
            for vote_type in VoteType:
                votes = self._votes.get(r, vote_type)
                if votes is not None:
                    messages.extend(votes.votes())
        return messages

    # -- event handlers ---------------------------------------------------------------------

    def _on_proposal(self, p: Proposal) -> None:
        if p.height != self._height:
            return
        known = self._proposals.get(p.round)
        if known is not None and (
            p.value.block_hash in known or len(known) >= MAX_PROPOSALS_PER_ROUND
        ):
            return
        if not self._replaying:
            if not isinstance(p.round, int) or p.round < 0:
                raise InvalidInput(ConsensusReason.INVALID_MESSAGE, "round must be >= 0")
            if p.round > self._round + MAX_ROUNDS_AHEAD:
                return
            verify_proposal(p, self.proposer(p.round), self._chain_id, self._verify)
        self._log(p)
        self._store_proposal(p)
        self._progress(p.round)

    def _store_proposal(self, p: Proposal) -> None:
        self._proposals.setdefault(p.round, {})[p.value.block_hash] = p
        self._votes.note_sender(p.round, p.proposer, self._validators.power_of(p.proposer))

    def _on_vote(self, vote: Vote) -> None:
        if vote.height != self._height:
            return
        check_vote_shape(vote)
        known = self._votes.slot(vote)
        if known is not None and (vote.block_hash in known or len(known) >= MAX_VOTES_PER_SLOT):
            return
        if self._replaying:
            power = self._validators.power_of(vote.validator)
        else:
            power = verify_vote(vote, self._validators, self._chain_id, self._verify).power
        self._log(vote)
        conflict = self._votes.add(vote, power)
        if conflict is not None:
            slot = (vote.validator, vote.round, vote.type)
            if slot not in self._evidenced:
                self._evidenced.add(slot)
                self._out.append(EvidenceFound(DuplicateVoteEvidence.of(conflict, vote)))
        self._progress(vote.round)

    def _on_timeout(self, t: Timeout) -> None:
        if t.height != self._height:
            return
        if t.kind is TimeoutKind.COMMIT:
            if self._step is Step.NEW_HEIGHT:
                self._log(t)
                self._enter_new_round(self._height, 0)
                self._progress(self._round)
            return
        if t.round != self._round:
            return
        if t.kind is TimeoutKind.PROPOSE and self._step is Step.PROPOSE:  # line 57
            self._log(t)
            self._enter_prevote(t.height, t.round, None)
        elif t.kind is TimeoutKind.PREVOTE and self._step is Step.PREVOTE:  # line 61
            self._log(t)
            self._enter_precommit(t.height, t.round, None)
        elif t.kind is TimeoutKind.PRECOMMIT and self._step is not Step.NEW_HEIGHT:  # line 65
            self._log(t)
            self._enter_new_round(t.height, t.round + 1)
        else:
            return
        self._progress(self._round)

    def _on_synced(self, synced: SyncedBlock) -> None:
        commit = synced.commit
        if commit.height != self._height:
            return
        if synced.value.block_hash != commit.block_hash:
            raise InvalidInput(ConsensusReason.INVALID_COMMIT, "the value is not the committed one")
        if not self._replaying:
            verify_commit(
                self._validators, self._chain_id, self._height, commit.block_hash, commit,
                verify=self._verify,
            )  # fmt: skip
        if not self._valid(synced.value):
            raise InvalidInput(ConsensusReason.INVALID_COMMIT, "the committed value is not valid")
        self._log(synced)
        self._decide(commit.round, synced.value, commit)

    # -- the rules of Algorithm 1 -------------------------------------------------------------

    def _progress(self, msg_round: int) -> None:
        """Apply every rule the last input may have enabled until none applies."""
        while True:
            if self._try_decide(msg_round) or self._try_decide(self._round):
                return
            sender_power = self._votes.sender_power(msg_round)
            if msg_round > self._round and self._validators.is_one_third(sender_power):
                self._enter_new_round(self._height, msg_round)  # line 55
                continue
            if not self._round_rules():
                return

    def _try_decide(self, r: int) -> bool:
        """Line 49: a proposal and 2f+1 precommits for its value in any round decide it."""
        precommits = self._votes.get(r, VoteType.PRECOMMIT)
        if precommits is None or precommits.quorum_hash is None:
            return False
        block_hash = precommits.quorum_hash
        proposal = self._proposals.get(r, {}).get(block_hash)
        if proposal is None or not self._valid(proposal.value):
            return False
        votes = tuple(precommits.votes_for(block_hash))
        self._decide(r, proposal.value, Commit(self._height, r, block_hash, votes))
        return True

    def _round_rules(self) -> bool:
        """The rules of the current round; True when one of them changed the step or round."""
        h, r, step = self._height, self._round, self._step
        if step is Step.NEW_HEIGHT:
            return False
        vals = self._validators
        prevotes = self._votes.get(r, VoteType.PREVOTE)
        if step is Step.PROPOSE:
            for p in self._proposals.get(r, {}).values():
                v = p.value
                if p.pol_round == -1:  # line 22
                    ok = self._valid(v) and (self._locked_round == -1 or self._locked_value == v)
                    self._enter_prevote(h, r, v.block_hash if ok else None)
                    return True
                polka = self._votes.get(p.pol_round, VoteType.PREVOTE)
                if polka is not None and vals.is_quorum(polka.power_for(v.block_hash)):  # line 28
                    ok = self._valid(v) and (
                        self._locked_round <= p.pol_round or self._locked_value == v
                    )
                    self._enter_prevote(h, r, v.block_hash if ok else None)
                    return True
        if (
            step is Step.PREVOTE
            and prevotes is not None
            and r not in self._prevote_wait
            and vals.is_quorum(prevotes.voted_power)
        ):  # line 34
            self._prevote_wait.add(r)
            self._schedule(TimeoutKind.PREVOTE, r)
        if (
            step >= Step.PREVOTE
            and prevotes is not None
            and prevotes.quorum_hash is not None
            and r not in self._polka_seen
        ):  # line 36
            proposal = self._proposals.get(r, {}).get(prevotes.quorum_hash)
            if proposal is not None and self._valid(proposal.value):
                self._polka_seen.add(r)
                self._valid_value, self._valid_round = proposal.value, r
                if step is Step.PREVOTE:
                    self._locked_value, self._locked_round = proposal.value, r
                    self._enter_precommit(h, r, prevotes.quorum_hash)
                    return True
        if (
            step is Step.PREVOTE
            and prevotes is not None
            and vals.is_quorum(prevotes.power_for(None))
        ):  # line 44
            self._enter_precommit(h, r, None)
            return True
        precommits = self._votes.get(r, VoteType.PRECOMMIT)
        if (
            precommits is not None
            and r not in self._precommit_wait
            and vals.is_quorum(precommits.voted_power)
        ):  # line 47
            self._precommit_wait.add(r)
            self._schedule(TimeoutKind.PRECOMMIT, r)
        return False

    # -- transitions --------------------------------------------------------------------------

    def _enter_new_round(self, height: int, round: int) -> None:
        """StartRound (line 11): propose if this validator is the proposer, else wait."""
        if height != self._height or (self._step is not Step.NEW_HEIGHT and round <= self._round):
            return
        self._round, self._step = round, Step.PROPOSE
        if self._address is not None and self.proposer(round).address == self._address:
            self._propose(round)
        # CometBFT arms the propose timeout for the proposer too: if its own proposal cannot be
        # signed (the guard refused), the round still moves on.
        self._schedule(TimeoutKind.PROPOSE, round)

    def _propose(self, round: int) -> None:
        recorded = self._recorded.get((self._height, round, Step.PROPOSE))
        if recorded is not None and recorded.value is not None:
            value, pol_round = recorded.value, recorded.pol_round
        elif self._valid_value is not None:
            value, pol_round = self._valid_value, self._valid_round
        else:
            value, pol_round = self._app.propose_value(self._height), -1
        signed = self._sign(Step.PROPOSE, round, value.block_hash, value, pol_round)
        if signed is None or signed[0].value is None or self._address is None:
            return
        intent, signature = signed
        value = intent.value if intent.value is not None else value
        proposal = Proposal(self._height, round, intent.pol_round, value, self._address, signature)
        self._own[(round, Step.PROPOSE)] = proposal
        self._store_proposal(proposal)
        self._out.append(Broadcast(proposal))

    def _enter_prevote(self, height: int, round: int, block_hash: bytes | None) -> None:
        if height != self._height or round != self._round or self._step >= Step.PREVOTE:
            return
        self._step = Step.PREVOTE
        self._cast(VoteType.PREVOTE, round, block_hash)

    def _enter_precommit(self, height: int, round: int, block_hash: bytes | None) -> None:
        if height != self._height or round != self._round or self._step >= Step.PRECOMMIT:
            return
        self._step = Step.PRECOMMIT
        self._cast(VoteType.PRECOMMIT, round, block_hash)

    def _decide(self, round: int, value: Value, commit: Commit) -> None:
        decided = Decided(self._height, round, value, commit)
        # Logged even while replaying: a decision re-derived from the log's tail is new.
        self._wal.append(_wal_encoder.encode(decided))
        self._out.append(decided)
        self._next_height()

    def _next_height(self) -> None:
        self._height += 1
        self._round, self._step = 0, Step.NEW_HEIGHT
        self._validators = self._validators.advanced(1)
        self._locked_value, self._locked_round = None, -1
        self._valid_value, self._valid_round = None, -1
        self._reset_height_state()
        self._schedule(TimeoutKind.COMMIT, 0)

    # -- signing, logging, outputs ------------------------------------------------------------

    def _cast(self, vote_type: VoteType, round: int, block_hash: bytes | None) -> None:
        address = self._address
        if address is None or address not in self._validators:
            return
        signed = self._sign(_STEP_OF[vote_type], round, block_hash)
        if signed is None:
            return
        intent, signature = signed
        vote = Vote(vote_type, self._height, round, intent.block_hash, address, signature)
        self._own[(round, _STEP_OF[vote_type])] = vote
        known = self._votes.slot(vote)
        if known is None or vote.block_hash not in known:
            self._votes.add(vote, self._validators.power_of(address))
        self._out.append(Broadcast(vote))

    def _sign(
        self,
        step: Step,
        round: int,
        block_hash: bytes | None,
        value: Value | None = None,
        pol_round: int = -1,
    ) -> tuple[SignIntent, bytes] | None:
        """Log the decision to sign, then sign: never a second value for one slot."""
        if self._signer is None:
            return None
        h = self._height
        recorded = self._recorded.get((h, round, step))
        intent = recorded or SignIntent(step, h, round, block_hash, value, pol_round)
        if not self._guard.allows(h, round, step, intent.block_hash):
            return None
        if recorded is None:
            self._wal.append(_wal_encoder.encode(intent))
        self._guard.record(h, round, step, intent.block_hash)
        if step is Step.PROPOSE:
            if intent.block_hash is None:
                return None
            data = proposal_signing_bytes(
                self._chain_id, h, round, intent.pol_round, intent.block_hash
            )
        else:
            vote_type = VoteType.PREVOTE if step is Step.PREVOTE else VoteType.PRECOMMIT
            data = vote_signing_bytes(self._chain_id, vote_type, h, round, intent.block_hash)
        return intent, self._signer.sign(data)

    def _valid(self, value: Value) -> bool:
        known = self._validity.get(value)
        if known is None:
            known = self._validity[value] = bool(self._app.validate_value(self._height, value))
        return known

    def _log(self, record: WalRecord) -> None:
        if not self._replaying:
            self._wal.append(_wal_encoder.encode(record))

    def _schedule(self, kind: TimeoutKind, round: int) -> None:
        timeout = Timeout(kind, self._height, round)
        self._out.append(ScheduleTimeout(timeout, self._timeouts.duration_ms(kind, round)))

    def _take(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    # -- recovery -----------------------------------------------------------------------------

    def _replay(self, records: list[WalRecord]) -> list[Output]:
        """Rebuild the state from the log without logging, verifying or re-sending anything."""
        last_decided = max(
            (i for i, rec in enumerate(records) if isinstance(rec, Decided)), default=-1
        )
        self._replaying = True
        decisions: list[Output] = []
        for rec in records[: last_decided + 1]:
            if isinstance(rec, Decided) and rec.height == self._height:
                decisions.append(rec)
                self._next_height()
            elif isinstance(rec, SignIntent):
                self._guard.record(rec.height, rec.round, rec.step, rec.block_hash)
        tail = records[last_decided + 1 :]
        for rec in tail:
            if isinstance(rec, SignIntent):
                self._recorded[(rec.height, rec.round, rec.step)] = rec
        if last_decided < 0:
            self._enter_new_round(self._height, 0)
            self._progress(self._round)
        for rec in tail:
            if isinstance(rec, Proposal):
                self._on_proposal(rec)
            elif isinstance(rec, Vote):
                self._on_vote(rec)
            elif isinstance(rec, Timeout):
                self._on_timeout(rec)
            elif isinstance(rec, SyncedBlock):
                self._on_synced(rec)
        self._replaying = False
        for intent in self._recorded.values():
            self._guard.record(intent.height, intent.round, intent.step, intent.block_hash)
        self._recorded.clear()
        fired = {rec for rec in tail if isinstance(rec, Timeout)}
        armed: list[Output] = []
        for out in self._take():
            if isinstance(out, Decided):
                decisions.append(out)
            elif (
                isinstance(out, ScheduleTimeout)
                and out.timeout.height == self._height
                and out.timeout not in fired
            ):
                armed.append(out)
        own: list[Output] = [Broadcast(m) for m in self._own.values()]
        return decisions + armed + own
