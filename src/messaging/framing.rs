//! Frames on the forker link: a 4-byte big-endian length, then a protobuf
//! message. Messages are small (a session spec is well under 1 KiB); a
//! larger length means a broken peer, not a message to allocate for.

use std::io::{Read, Write};

use prost::Message;

pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("link I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {0} bytes exceeds the {MAX_FRAME}-byte limit")]
    TooLarge(usize),
    #[error("undecodable message: {0}")]
    Decode(#[from] prost::DecodeError),
}

pub fn write_frame(w: &mut impl Write, msg: &impl Message) -> Result<(), FrameError> {
    let body = msg.encode_to_vec();
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    // One write keeps a frame whole on a socketpair.
    w.write_all(&frame)?;
    Ok(())
}

/// Reads one frame; None on a clean end of stream.
pub fn read_frame<M: Message + Default>(r: &mut impl Read) -> Result<Option<M>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(M::decode(body.as_slice())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::forker::{ForkerReply, SessionExited, forker_reply};

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let msg = ForkerReply {
            kind: Some(forker_reply::Kind::Exited(SessionExited {
                pid: 42,
                code: 2,
            })),
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &msg).unwrap();
        write_frame(&mut buf, &msg).unwrap();
        let mut r = buf.as_slice();
        assert_eq!(
            read_frame::<ForkerReply>(&mut r).unwrap(),
            Some(msg.clone())
        );
        assert_eq!(read_frame::<ForkerReply>(&mut r).unwrap(), Some(msg));
        assert_eq!(read_frame::<ForkerReply>(&mut r).unwrap(), None);
    }

    #[test]
    fn oversized_length_is_refused() {
        let raw = [0xffu8, 0xff, 0xff, 0xff, 0, 0];
        assert!(matches!(
            read_frame::<ForkerReply>(&mut raw.as_slice()),
            Err(FrameError::TooLarge(_))
        ));
    }
}
