//! One round of dumps of a namespace (its links, addresses, routes, ...), as a state machine
//! with no I/O, so that its promise is tested on its own: a round ends in success (`Synced`)
//! only when every part ended without error, without an `NLM_F_DUMP_INTR` flag on its last
//! attempt, and without notifications being lost while it ran.
//!
//! - A part whose replies were flagged `NLM_F_DUMP_INTR` (the table changed while it was dumped)
//!   or could not be read whole is sent again, up to [`MAX_ATTEMPTS`] times; then the round goes
//!   on but ends in failure, saying which part never was consistent.
//! - A part that ends with an error (`NLMSG_ERROR`, or an error code in `NLMSG_DONE`) is a
//!   failure of the round; the other parts still run, so their objects are listed.
//! - Notifications lost while the round runs ([`Round::restart`]) start it over once the part
//!   in flight has ended (the kernel answers `EBUSY` to a second dump on the same socket).

use std::collections::VecDeque;

use super::groups::{Dump, Groups};
use crate::rtnl::Rtnl;

/// How many times one part is sent before the round gives up on its consistency.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// What the round wants done next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send this dump request.
    Send(Dump),
    /// The round is over: complete and consistent (`Ok`), or not, with the reasons.
    Done(Result<(), String>),
    /// A part is in flight: wait for its end.
    Wait,
}

#[derive(Debug)]
pub(crate) struct Round {
    groups: Groups,
    pending: VecDeque<Dump>,
    /// Sequence number of the part in flight (the front of `pending`).
    in_flight: Option<u32>,
    /// Attempts at the front part so far.
    attempts: u32,
    interrupted: bool,
    restart: bool,
    failures: Vec<String>,
    /// Interfaces whose classes this round has asked for.
    class_dumped: Vec<u32>,
}

impl Round {
    pub(crate) fn new(groups: Groups) -> Round {
        Round {
            groups,
            pending: groups.dumps().into(),
            in_flight: None,
            attempts: 0,
            interrupted: false,
            restart: false,
            failures: Vec::new(),
            class_dumped: Vec::new(),
        }
    }

    /// Whether `seq` is the sequence number of the part in flight (its replies carry it).
    pub(crate) fn is_reply(&self, seq: u32) -> bool {
        self.in_flight == Some(seq)
    }

    /// The part at the front was sent with sequence number `seq`.
    pub(crate) fn sent(&mut self, seq: u32) {
        self.in_flight = Some(seq);
        self.attempts += 1;
    }

    /// A reply of the part in flight was flagged `NLM_F_DUMP_INTR`, or a datagram that may
    /// have held replies could not be read whole: the part must be sent again.
    pub(crate) fn interrupted(&mut self) {
        if self.in_flight.is_some() {
            self.interrupted = true;
        }
    }

    /// Notifications were lost while the round ran: it starts over.
    pub(crate) fn restart(&mut self) {
        self.restart = true;
    }

    /// An object the part in flight listed: for tc, it may call for more dumps.
    pub(crate) fn object(&mut self, message: &Rtnl) {
        if let Some(dump) = self.pending.front() {
            for more in dump.follow_ups(message, &mut self.class_dumped) {
                // A part sent again lists its objects again: plan their follow-ups once.
                if !self.pending.contains(&more) {
                    self.pending.push_back(more);
                }
            }
        }
    }

    /// The part in flight ended: normally, or with the kernel's error text.
    pub(crate) fn part_ended(&mut self, error: Option<String>) {
        self.in_flight = None;
        if self.restart {
            return;
        }
        let Some(part) = self.pending.front() else {
            return;
        };
        if let Some(error) = error {
            self.failures.push(format!("{}: {error}", part.describe()));
        } else if std::mem::take(&mut self.interrupted) {
            if self.attempts < MAX_ATTEMPTS {
                return; // the front part is sent again
            }
            self.failures.push(format!(
                "{}: the table changed during each of {} attempts",
                part.describe(),
                self.attempts
            ));
        }
        self.interrupted = false;
        self.attempts = 0;
        self.pending.pop_front();
    }

    /// What to do next.
    pub(crate) fn next(&mut self) -> Step {
        if self.in_flight.is_some() {
            return Step::Wait;
        }
        if std::mem::take(&mut self.restart) {
            *self = Round::new(self.groups);
        }
        match self.pending.front() {
            Some(dump) => Step::Send(*dump),
            None if self.failures.is_empty() => Step::Done(Ok(())),
            None => Step::Done(Err(self.failures.join("; "))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::consts::{RTM_GETLINK, RTM_GETROUTE};

    /// Drives `round` through its parts with a scripted outcome per attempt: `None` a clean
    /// end, `Some("intr")` an interrupted one, `Some(text)` an error. Returns the parts sent.
    fn drive(round: &mut Round, outcomes: &[Option<&str>]) -> (Vec<u16>, Step) {
        let mut sent = Vec::new();
        let mut seq = 0;
        let mut outcomes = outcomes.iter();
        loop {
            match round.next() {
                Step::Send(dump) => {
                    sent.push(dump.kind);
                    seq += 1;
                    round.sent(seq);
                    match outcomes.next().copied().flatten() {
                        Some("intr") => {
                            round.interrupted();
                            round.part_ended(None);
                        }
                        Some(error) => round.part_ended(Some(error.into())),
                        None => round.part_ended(None),
                    }
                }
                other => return (sent, other),
            }
        }
    }

    #[test]
    fn a_clean_round_sends_each_part_once_and_succeeds() {
        let mut round = Round::new(Groups::LINK | Groups::IPV4_ROUTE);
        let (sent, end) = drive(&mut round, &[]);
        assert_eq!(sent, vec![RTM_GETLINK, RTM_GETROUTE]);
        assert_eq!(end, Step::Done(Ok(())));
    }

    #[test]
    fn an_interrupted_part_is_sent_again_until_consistent() {
        let mut round = Round::new(Groups::LINK | Groups::IPV4_ROUTE);
        let (sent, end) = drive(&mut round, &[Some("intr"), Some("intr"), None, None]);
        assert_eq!(
            sent,
            vec![RTM_GETLINK, RTM_GETLINK, RTM_GETLINK, RTM_GETROUTE]
        );
        assert_eq!(end, Step::Done(Ok(())));
    }

    #[test]
    fn a_part_never_consistent_fails_the_round_after_the_bound() {
        let mut round = Round::new(Groups::LINK | Groups::IPV4_ROUTE);
        let script = vec![Some("intr"); MAX_ATTEMPTS as usize];
        let (sent, end) = drive(&mut round, &script);
        assert_eq!(
            sent.len(),
            MAX_ATTEMPTS as usize + 1,
            "then the route part runs"
        );
        assert_eq!(*sent.last().unwrap(), RTM_GETROUTE);
        let Step::Done(Err(reason)) = end else {
            panic!("{end:?}")
        };
        assert!(
            reason.contains("link dump") && reason.contains("8 attempts"),
            "{reason}"
        );
    }

    #[test]
    fn an_error_fails_the_round_but_the_other_parts_run() {
        let mut round = Round::new(Groups::LINK | Groups::IPV4_ROUTE);
        let (sent, end) = drive(&mut round, &[Some("Operation not supported")]);
        assert_eq!(sent, vec![RTM_GETLINK, RTM_GETROUTE]);
        assert_eq!(
            end,
            Step::Done(Err("link dump: Operation not supported".into()))
        );
    }

    #[test]
    fn a_restart_waits_for_the_part_in_flight_then_starts_over() {
        let mut round = Round::new(Groups::LINK | Groups::IPV4_ROUTE);
        let Step::Send(first) = round.next() else {
            panic!()
        };
        assert_eq!(first.kind, RTM_GETLINK);
        round.sent(1);
        round.part_ended(None);
        let Step::Send(second) = round.next() else {
            panic!()
        };
        assert_eq!(second.kind, RTM_GETROUTE);
        round.sent(2);
        round.restart();
        assert_eq!(round.next(), Step::Wait, "one dump at a time on a socket");
        assert!(round.is_reply(2));
        round.part_ended(None);
        let (sent, end) = drive(&mut round, &[]);
        assert_eq!(sent, vec![RTM_GETLINK, RTM_GETROUTE], "every part again");
        assert_eq!(end, Step::Done(Ok(())));
    }
}
