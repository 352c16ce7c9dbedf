//! The broker's frame reader and message decoder (`serve::protocol`): the
//! bytes on its socket come from any uid that may connect.
//!
//! Input: one byte, then the stream. The byte's low 3 bits are how many
//! stream bytes arrived with the descriptors (read before the frame
//! reader starts, as the worker does); its high 5 bits the most the reader
//! gets from one `read` (1 to 32 bytes: a client that sends in dribbles).
#![no_main]

use agentjail::serve::protocol::{
    decode, encode, read_frame, Control, FrameError, Request, Response, MAX_FRAME,
};
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read};

/// Hands out the stream at most `step` bytes a read.
struct Dribble<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Dribble<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let split = usize::from(first & 7).min(stream.len());
    let step = usize::from(first >> 3) + 1;
    let (have, rest) = stream.split_at(split);
    let mut reader = Dribble { data: rest, step };
    match read_frame(&mut reader, have) {
        Ok(body) => {
            // The body is exactly the declared length, within the maximum.
            let mut head = [0u8; 4];
            head.copy_from_slice(&stream[..4]);
            assert_eq!(body.len(), u32::from_be_bytes(head) as usize);
            assert!(body.capacity() <= MAX_FRAME);
            if let Ok(req) = decode::<Request>(&body) {
                // What decodes re-encodes to a frame that decodes the same.
                let frame = encode(&req).expect("a decoded request encodes");
                let again = read_frame(&mut &frame[..], &[]).expect("its frame reads");
                assert_eq!(decode::<Request>(&again).expect("and decodes"), req);
            }
            let _ = decode::<Response>(&body);
            let _ = decode::<Control>(&body);
        }
        Err(FrameError::TooLarge(n)) => assert!(n > MAX_FRAME as u64),
        Err(FrameError::Short { got, want }) => assert!(got < want && got <= stream.len()),
        Err(FrameError::Closed) => assert!(stream.is_empty()),
        Err(FrameError::Json(_)) => {}
        Err(e) => panic!("unexpected: {e}"),
    }
});
