//! What a crash or a power loss can do to a cartridge's files, and what
//! loading must make of it: random writes, file marks, flushes and
//! overwrites; then the data and index cut anywhere at or beyond what the
//! last flush made durable, with zero-filled or random tails; then a load.
//! Every block below the flushed mark reads back identical, the load never
//! trims below it, and no block past it reads back as wrong data.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Write {
        len: usize,
        seed: u8,
    },
    FileMark,
    Flush,
    /// Locate this many blocks back from the end, then write there.
    Overwrite {
        back: u64,
        len: usize,
        seed: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..3000, any::<u8>()).prop_map(|(len, seed)| Op::Write { len, seed }),
        2 => Just(Op::FileMark),
        2 => Just(Op::Flush),
        1 => (1u64..6, 1usize..500, any::<u8>())
            .prop_map(|(back, len, seed)| Op::Overwrite { back, len, seed }),
    ]
}

#[derive(Debug, Clone)]
enum Tail {
    None,
    Zeros(usize),
    Random(Vec<u8>),
}

fn tail() -> impl Strategy<Value = Tail> {
    prop_oneof![
        Just(Tail::None),
        (1usize..200).prop_map(Tail::Zeros),
        proptest::collection::vec(any::<u8>(), 1..200).prop_map(Tail::Random),
    ]
}

/// A block as the model sees it: a payload, or a file mark (None).
type Model = Vec<Option<Vec<u8>>>;

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Runs the ops on a drive and the model; returns (model, flushed blocks).
fn run_ops(drive: &mut FileDrive, ops: &[Op]) -> (Model, usize) {
    let mut model: Model = Vec::new();
    let mut flushed = 0usize;
    for op in ops {
        match op {
            Op::Write { len, seed } => {
                let data = payload(*len, *seed);
                drive.write_block(&data).unwrap();
                model.push(Some(data));
            }
            Op::FileMark => {
                drive.write_filemarks(1, false).unwrap();
                model.push(None);
            }
            Op::Flush => {
                drive.flush().unwrap();
                flushed = model.len();
            }
            Op::Overwrite { back, len, seed } => {
                let at = model.len().saturating_sub(*back as usize);
                drive.locate(at as u64).unwrap();
                let data = payload(*len, *seed);
                drive.write_block(&data).unwrap();
                model.truncate(at);
                model.push(Some(data));
                flushed = flushed.min(at);
            }
        }
    }
    (model, flushed)
}

/// Cuts `path` to a length in [keep, current] chosen by `cut` (0..=1), then appends `tail`.
fn damage(path: &Path, keep: u64, cut: f64, tail: &Tail) {
    let len = std::fs::metadata(path).unwrap().len();
    let new_len = keep + ((len - keep) as f64 * cut) as u64;
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(new_len).unwrap();
    let extra = match tail {
        Tail::None => Vec::new(),
        Tail::Zeros(n) => vec![0u8; *n],
        Tail::Random(bytes) => bytes.clone(),
    };
    file.write_all_at(&extra, new_len).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_crash_never_loses_a_flushed_block(
        ops in proptest::collection::vec(op(), 1..60),
        data_cut in 0.0f64..=1.0,
        index_cut in 0.0f64..=1.0,
        data_tail in tail(),
        index_tail in tail(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let cart = tmp.path().join("cartridges/V00001");
        create_cartridge(&cart, "V00001", 1 << 30).unwrap();
        let device = tmp.path().join("drives/d0");
        std::fs::create_dir_all(&device).unwrap();
        std::os::unix::fs::symlink(&cart, FileDrive::cartridge_link(&device)).unwrap();
        let mut drive = FileDrive::new("d0", &device);
        drive.load().unwrap();
        let (model, flushed) = run_ops(&mut drive, &ops);
        // The crash: the drive goes away without a flush.
        drop(drive);
        let flushed_bytes: u64 = model[..flushed].iter().flatten().map(|b| b.len() as u64).sum();
        damage(&cart.join("data"), flushed_bytes, data_cut, &data_tail);
        damage(&cart.join("index"), flushed as u64 * ENTRY_LEN, index_cut, &index_tail);

        let mut drive = FileDrive::new("d0", &device);
        drive.load().unwrap();
        let mut buf = vec![0u8; 4096];
        for (id, expected) in model.iter().enumerate() {
            let outcome = drive.read_block(&mut buf);
            if id < flushed {
                let outcome = outcome.unwrap();
                match expected {
                    Some(data) => {
                        prop_assert_eq!(outcome, ReadOutcome::Data(data.len()));
                        prop_assert_eq!(&buf[..data.len()], &data[..], "block {}", id);
                    }
                    None => prop_assert_eq!(outcome, ReadOutcome::FileMark),
                }
                continue;
            }
            // Past the flush: whatever survived is right or refused, never wrong data.
            match (outcome, expected) {
                (Ok(ReadOutcome::EndOfData), _) | (Err(DriveError::Crc { .. }), _) => break,
                (Ok(ReadOutcome::Data(n)), Some(data)) => {
                    prop_assert_eq!(&buf[..n], &data[..], "unflushed block {}", id)
                }
                (Ok(ReadOutcome::FileMark), None) => {}
                (other, expected) => prop_assert!(false, "block {}: {:?} for {:?}", id, other, expected),
            }
        }
        // Appending after the load works and is durable.
        drive.write_block(b"after").unwrap();
        drive.flush().unwrap();
    }
}
