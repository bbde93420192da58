//! Properties of `persist`'s decoders. The DUMP/RESTORE payload codec reads bytes any client can
//! send with RESTORE: decoding never panics, hangs or allocates beyond what the input can hold,
//! and whatever decodes survives a round trip: dumped again, it decodes to a value that dumps to
//! the same bytes. The RDB file reader reads files from disk and from a master.

use persist::{dump_payload, restore_payload, verify_dump_payload, EncodeLimits};

pub fn check_restore_payload(data: &[u8]) {
    check_function_restore_payload(data);
    let _ = verify_dump_payload(data, true);
    let _ = verify_dump_payload(data, false);
    let Ok(value) = restore_payload(data) else { return };
    let limits = EncodeLimits::default();
    let first = dump_payload(&value, &limits);
    assert!(verify_dump_payload(&first, true).is_some(), "our own payload fails its footer check");
    let again = restore_payload(&first).expect("our own payload must restore");
    assert_eq!(dump_payload(&again, &limits), first, "dump -> restore -> dump changed the bytes");
}

/// FUNCTION RESTORE's payload (any client can send one): decoding never panics or allocates
/// beyond the input, and the libraries it yields dump to a payload that restores to them again.
/// Run by the restore_payload target, on the same inputs, rather than by a target of its own.
pub fn check_function_restore_payload(data: &[u8]) {
    let Ok(codes) = persist::rdb::function_restore_payload(data) else { return };
    let refs: Vec<&[u8]> = codes.iter().map(|c| c.as_slice()).collect();
    let dumped = persist::rdb::function_dump_payload(&refs, &EncodeLimits::default());
    let again = persist::rdb::function_restore_payload(&dumped).expect("our own function payload must restore");
    assert_eq!(again, codes, "function dump -> restore changed the libraries");
}

/// An RDB file (what a node loads at start-up, and what full resynchronisation sends): walking
/// it never panics, hangs or allocates beyond the input, and stops at the first error.
pub fn check_rdb_file(data: &[u8]) {
    let Ok(mut reader) = persist::rdb::RdbReader::new(data) else { return };
    // Bounded: every item consumes at least one byte.
    for _ in 0..=data.len() {
        match reader.next_item() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!("an RDB walk did not end within one item per byte");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_payloads_pass() {
        check_restore_payload(b"\x00\x05hello\n\x00cr\xdfve4 \n");
        check_restore_payload(
            b"\x12\x01\x02\x16\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\xdf\x9c\x02\x85hello\x06\xff",
        );
        check_restore_payload(b"\x0b\x0c\x02\x00\x00\x00\x02\x00\x00\x00\xff\xff\x03\x00");
        check_restore_payload(b"");
        let lib: &[u8] = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";
        let payload = persist::rdb::function_dump_payload(&[lib], &EncodeLimits::default());
        assert_eq!(persist::rdb::function_restore_payload(&payload), Ok(vec![lib.to_vec()]));
        check_restore_payload(&payload);
        check_rdb_file(include_bytes!("../../crates/persist/tests/fixtures/redis-7.0.15-types.rdb"));
        check_rdb_file(include_bytes!("../../crates/persist/tests/fixtures/redis-7.0.15-streams.rdb"));
        // Streams redis-server 7.0.15 DUMPed (hex, one per line after the name and a tab).
        let dumps = include_str!("../../crates/persist/tests/fixtures/redis-7.0.15-stream-dumps.txt");
        for line in dumps.lines().filter(|l| !l.starts_with('#')) {
            let (_, hex) = line.split_once('\t').expect("name, tab, hex");
            let payload: Vec<u8> =
                (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
            assert!(restore_payload(&payload).is_ok());
            check_restore_payload(&payload);
        }
        check_rdb_file(b"REDIS0010\xff");
    }
}
