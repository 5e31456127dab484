//! Binary frame decoder: any bytes decode to a frame, "need more", or an error, never a panic; a
//! decoded frame re-encodes to exactly the bytes it came from; a prefix of a valid frame is
//! "need more" (or the same early error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::binary::{decode, encode, Side};

fuzz_target!(|data: &[u8]| {
    for side in [Side::Request, Side::Reply] {
        match decode(data, side, 1 << 20) {
            Ok(Some((frame, used))) => {
                assert!(used <= data.len());
                let h = frame.header;
                let mut again = Vec::new();
                encode(&mut again, h.operation, h.request_id, h.event_count, h.status, frame.body);
                assert_eq!(&again[..], &data[..used], "re-encoding a decoded frame is the identity");
                for cut in [0, 1, 4, 31, 32, used / 2, used - 1] {
                    if cut < used {
                        assert!(matches!(decode(&data[..cut], side, 1 << 20), Ok(None)), "prefix {cut} of a valid frame");
                    }
                }
            }
            Ok(None) => assert!(data.len() < 32 || data.len() < 32 + u32::from_le_bytes([data[20], data[21], data[22], data[23]]) as usize),
            Err(_) => {}
        }
    }
});
