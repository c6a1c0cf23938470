//! Every parser that reads bytes from outside, fed real kernel messages (the fuzzers' seed
//! corpus, captured by `cargo run --example capture_corpus`) truncated at every length, mutated,
//! and concatenated. Each `nsmon::fuzzing` entry point checks its parser's promises (no panic,
//! nothing longer than its input, the watcher's alternation); being safe Rust over a slice, a
//! parser cannot read past the length it was given without panicking, which fails this test.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 8] = [
    ("netlink_datagram", nsmon::fuzzing::netlink_datagram),
    ("rtnetlink_message", nsmon::fuzzing::rtnetlink_message),
    ("nsid_payload", nsmon::fuzzing::nsid_payload),
    (
        "listen_all_nsid_control",
        nsmon::fuzzing::listen_all_nsid_control,
    ),
    ("inotify_events", nsmon::fuzzing::inotify_events),
    ("name", nsmon::fuzzing::name),
    ("proc_connector", nsmon::fuzzing::proc_connector),
    ("mountinfo", nsmon::fuzzing::mountinfo),
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// xorshift64*: a fixed seed, so that a failure is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Length fields are where parsers go wrong: besides random bytes, mutations write lengths
/// around the interesting boundaries.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    if out.is_empty() {
        return out;
    }
    for _ in 0..1 + rng.below(4) {
        if out.is_empty() {
            break;
        }
        let at = rng.below(out.len());
        match rng.below(4) {
            0 => out[at] = rng.next() as u8,
            1 => out[at] ^= 1 << rng.below(8),
            2 if at + 2 <= out.len() => {
                let v = [0u16, 1, 3, 4, 15, 16, 17, 0xfff, 0xffff][rng.below(9)];
                out[at..at + 2].copy_from_slice(&v.to_ne_bytes());
            }
            _ if at + 4 <= out.len() => {
                let v = [0u32, 4, 15, 16, 20, u32::MAX, input.len() as u32 + 1][rng.below(7)];
                out[at..at + 4].copy_from_slice(&v.to_ne_bytes());
            }
            _ => out.truncate(at),
        }
    }
    out
}

#[test]
fn every_parser_survives_truncated_mutated_and_concatenated_kernel_messages() {
    let mut rng = Rng(0x6e73_6d6f_6e21);
    let all: Vec<Vec<u8>> = TARGETS.iter().flat_map(|(name, _)| corpus(name)).collect();
    let mut runs = 0usize;
    for (name, parse) in TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "no seed corpus for {name}");
        for seed in &seeds {
            parse(seed);
            for cut in 0..seed.len() {
                parse(&seed[..cut]);
            }
            for _ in 0..200 {
                parse(&mutate(&mut rng, seed));
            }
            for _ in 0..20 {
                let other = &seeds[rng.below(seeds.len())];
                parse(&[seed.as_slice(), other].concat());
                let joined = [seed.as_slice(), &mutate(&mut rng, other)].concat();
                parse(&joined);
            }
            runs += seed.len() + 200 + 40 + 1;
        }
        // Every parser also meets the other parsers' inputs.
        for input in &all {
            parse(input);
            runs += 1;
        }
    }
    assert!(runs > 50_000, "only {runs} inputs: is the corpus there?");
}

#[test]
fn a_multi_message_datagram_yields_each_message_once_and_in_order() {
    let messages = corpus("rtnetlink_message");
    assert!(messages.len() >= 20);
    let datagram: Vec<u8> = messages[..20]
        .iter()
        .flat_map(|m| {
            let mut m = m.clone();
            m.resize((m.len() + 3) & !3, 0); // messages are 4-byte aligned in a datagram
            m
        })
        .collect();
    let walked: Vec<&[u8]> = nsmon::rtnl::messages(&datagram)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(walked.len(), 20);
    for (got, want) in walked.iter().zip(&messages[..20]) {
        assert_eq!(*got, want.as_slice());
        assert!(nsmon::rtnl::parse(got).unwrap().is_some());
    }
}
