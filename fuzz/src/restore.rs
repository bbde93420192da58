//! Properties of the DUMP/RESTORE payload codec (`persist`), which reads bytes any client can
//! send with RESTORE: decoding never panics, hangs or allocates beyond what the input can hold,
//! and whatever decodes survives a round trip: dumped again, it decodes to a value that dumps to
//! the same bytes.

use persist::{dump_payload, restore_payload, verify_dump_payload, EncodeLimits};

pub fn check_restore_payload(data: &[u8]) {
    let _ = verify_dump_payload(data, true);
    let _ = verify_dump_payload(data, false);
    let Ok(value) = restore_payload(data) else { return };
    let limits = EncodeLimits::default();
    let first = dump_payload(&value, &limits);
    assert!(verify_dump_payload(&first, true).is_some(), "our own payload fails its footer check");
    let again = restore_payload(&first).expect("our own payload must restore");
    assert_eq!(dump_payload(&again, &limits), first, "dump -> restore -> dump changed the bytes");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_payloads_pass() {
        check_restore_payload(b"\x00\x05hello\n\x00cr\xdfve4 \n");
        check_restore_payload(b"\x12\x01\x02\x16\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\xdf\x9c\x02\x85hello\x06\xff");
        check_restore_payload(b"\x0b\x0c\x02\x00\x00\x00\x02\x00\x00\x00\xff\xff\x03\x00");
        check_restore_payload(b"");
    }
}
