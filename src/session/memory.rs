//! The session's memory: `block_count` blocks of `block_size` bytes (plus
//! the 4-byte LBP CRC), allocated once and recycled through a FIFO, so a
//! session's memory does not grow with the number or size of its files.
//!
//! Migration hands blocks to disk read tasks strictly in file order
//! (`Turns`): a later file can never take blocks the tape thread needs to
//! finish an earlier one, which would deadlock a small pool.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::tape::drive::LBP_CRC_LEN;

/// One memory block; it carries any error met while filling it, so the
/// writing side reports it. (Which file it belongs to is the FIFO it
/// travels on: each file has its own.)
#[derive(Debug)]
pub struct Block {
    /// Payload, followed by its CRC32C when sealed for the tape.
    pub data: Vec<u8>,
    /// CRC32C of the payload.
    pub crc: u32,
    pub error: Option<String>,
    /// The error proves the data read from tape wrong (a recall's copy is
    /// bad), rather than a drive or disk failing.
    pub data_bad: bool,
}

impl Block {
    fn new(capacity: usize) -> Self {
        Self {
            data: Vec::with_capacity(capacity),
            crc: 0,
            error: None,
            data_bad: false,
        }
    }

    /// Clears the block for its next use. The data keeps its length and
    /// bytes: `set_len` before filling it.
    pub fn reset(&mut self) {
        self.crc = 0;
        self.error = None;
        self.data_bad = false;
    }

    /// Makes the data `len` bytes long for a fill that overwrites all of
    /// them. A recycled block is only zeroed where it never was before, so
    /// the pipeline does not pay a memset per block.
    pub fn set_len(&mut self, len: usize) {
        if self.data.len() >= len {
            self.data.truncate(len);
        } else {
            self.data.resize(len, 0);
        }
    }

    pub fn fail(&mut self, reason: String) {
        self.data.clear();
        self.error = Some(reason);
    }

    /// A recall's tape read failed; `data_bad` as the field.
    pub fn fail_read(&mut self, reason: String, data_bad: bool) {
        self.fail(reason);
        self.data_bad = data_bad;
    }
}

/// The fixed pool of blocks.
#[derive(Clone)]
pub struct BlockPool {
    free_tx: Sender<Block>,
    free_rx: Receiver<Block>,
    block_size: usize,
}

/// Returned when the session is aborting and no block will come.
#[derive(Debug)]
pub struct Aborted;

impl BlockPool {
    pub fn new(count: usize, block_size: usize) -> Self {
        let (free_tx, free_rx) = bounded(count);
        for _ in 0..count {
            // The channel holds exactly `count`: sending cannot block or fail.
            let _ = free_tx.send(Block::new(block_size + LBP_CRC_LEN));
        }
        Self {
            free_tx,
            free_rx,
            block_size,
        }
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Waits for a free block, or for the abort channel to close.
    pub fn get(&self, abort: &Receiver<()>) -> Result<Block, Aborted> {
        select! {
            recv(self.free_rx) -> block => block.map_err(|_| Aborted),
            recv(abort) -> _ => Err(Aborted),
        }
    }

    pub fn put(&self, block: Block) {
        // The pool's own receiver keeps the channel open, and it can never
        // hold more than `count` blocks.
        let _ = self.free_tx.send(block);
    }

    /// Free blocks right now (for tests and status).
    pub fn free(&self) -> usize {
        self.free_rx.len()
    }
}

/// Serves blocks to migration files in their order on tape.
pub struct Turns {
    next: Mutex<u64>,
    changed: Condvar,
}

impl Default for Turns {
    fn default() -> Self {
        Self::new()
    }
}

impl Turns {
    pub fn new() -> Self {
        Self {
            next: Mutex::new(0),
            changed: Condvar::new(),
        }
    }

    /// Waits until file `seq` may take blocks (every earlier file has all of
    /// its blocks), or the session aborts.
    pub fn wait_for(&self, seq: u64, abort: &Receiver<()>) -> Result<(), Aborted> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        while *next != seq {
            if matches!(
                abort.try_recv(),
                Err(crossbeam_channel::TryRecvError::Disconnected)
            ) {
                return Err(Aborted);
            }
            next = self
                .changed
                .wait_timeout(next, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    /// File `seq` has all its blocks: the next file's turn.
    pub fn done(&self, seq: u64) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if *next == seq {
            *next = seq + 1;
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn pool_recycles_a_fixed_number_of_blocks() {
        let pool = BlockPool::new(3, 1024);
        let (_keep, abort) = bounded::<()>(0);
        let blocks: Vec<Block> = (0..3).map(|_| pool.get(&abort).unwrap()).collect();
        assert_eq!(pool.free(), 0);
        assert!(blocks[0].data.capacity() >= 1024 + LBP_CRC_LEN);
        for b in blocks {
            pool.put(b);
        }
        assert_eq!(pool.free(), 3);
    }

    #[test]
    fn set_len_reuses_the_bytes_of_a_recycled_block() {
        let pool = BlockPool::new(1, 16);
        let (_keep, abort) = bounded::<()>(0);
        let mut block = pool.get(&abort).unwrap();
        block.set_len(8);
        block.data.copy_from_slice(b"abcdefgh");
        pool.put(block);
        let mut block = pool.get(&abort).unwrap();
        block.reset();
        block.set_len(4);
        assert_eq!(block.data, b"abcd", "no zero-fill on reuse");
        block.set_len(10);
        assert_eq!(&block.data[8..], &[0, 0]);
        block.fail("x".into());
        assert!(block.data.is_empty() && block.error.is_some());
    }

    #[test]
    fn empty_pool_wakes_on_abort() {
        let pool = BlockPool::new(1, 16);
        let (stop, abort) = bounded::<()>(0);
        let _held = pool.get(&abort).unwrap();
        drop(stop);
        assert!(pool.get(&abort).is_err());
    }

    #[test]
    fn turns_go_in_order() {
        let turns = Arc::new(Turns::new());
        let (_keep, abort) = bounded::<()>(0);
        let order = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..4u64)
            .rev()
            .map(|seq| {
                let (turns, order, abort) = (turns.clone(), order.clone(), abort.clone());
                std::thread::spawn(move || {
                    turns.wait_for(seq, &abort).unwrap();
                    order.lock().unwrap().push(seq);
                    turns.done(seq);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }
}
