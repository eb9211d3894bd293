//! Helpers for `scripts/bench`, built in release mode by `cargo bench`:
//!
//! - `memcpy BYTES`: single-thread copy of BYTES through 256 KiB blocks, the
//!   baseline for the null-drive pipeline; prints MB/s.
//! - `mkfiles DIR COUNT SIZE`: writes COUNT files of SIZE pseudo-random bytes.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["memcpy", bytes] => {
            let total: usize = bytes.parse()?;
            const BLOCK: usize = 256 * 1024;
            // A source bigger than the caches, so the copy streams from memory.
            let source: Vec<u8> = (0..256 * BLOCK).map(|i| (i * 31 % 251) as u8).collect();
            let mut dest = vec![0u8; BLOCK];
            let started = Instant::now();
            let mut copied = 0;
            let mut offset = 0;
            while copied < total {
                dest.copy_from_slice(&source[offset..offset + BLOCK]);
                std::hint::black_box(&mut dest);
                offset = (offset + BLOCK) % source.len();
                copied += BLOCK;
            }
            let secs = started.elapsed().as_secs_f64();
            println!("{:.1}", copied as f64 / 1e6 / secs);
        }
        ["mkfiles", dir, count, size] => {
            let (count, size): (usize, usize) = (count.parse()?, size.parse()?);
            std::fs::create_dir_all(dir)?;
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut buf = vec![0u8; size];
            for i in 0..count {
                for chunk in buf.chunks_mut(8) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let bytes = x.to_le_bytes();
                    chunk.copy_from_slice(&bytes[..chunk.len()]);
                }
                std::fs::write(format!("{dir}/f{i:06}"), &buf)?;
            }
        }
        _ => return Err("usage: helper memcpy BYTES | mkfiles DIR COUNT SIZE".into()),
    }
    Ok(())
}
