//! The replica's reading of what a master sends before the command stream (Redis 7.0's
//! `slaveTryPartialResynchronization` and `readSyncBulkPayload`): the PSYNC reply line, the RDB
//! transfer's preamble (`$<len>` or `$EOF:<40-byte mark>`) and the search for the EOF mark in
//! a payload that arrives in pieces. Pure functions over bytes the master controls: no I/O, no
//! allocation sized by a number the master sent.

/// What the master answered to PSYNC.
#[derive(Debug, PartialEq, Eq)]
pub enum PsyncReply {
    Full {
        replid: String,
        offset: u64,
    },
    /// `+CONTINUE` (an old master) or `+CONTINUE <new replid>` (PSYNC2).
    Continue {
        replid: Option<String>,
    },
    /// -NOMASTERLINK, -LOADING: the master cannot serve us now; try again later.
    TryLater(String),
    Error(String),
}

/// The length of a replication id.
pub const REPLID_LEN: usize = 40;
/// The length of the diskless transfer's end mark.
pub const EOF_MARK_LEN: usize = 40;

/// Parses the master's PSYNC reply line (without its CR LF).
pub fn parse_psync_reply(line: &str) -> PsyncReply {
    if let Some(rest) = line.strip_prefix("+FULLRESYNC") {
        let mut it = rest.split_whitespace();
        let id = it.next().unwrap_or("");
        let off = it.next().and_then(|s| s.parse::<u64>().ok());
        return match off {
            Some(offset) if id.len() == REPLID_LEN => PsyncReply::Full { replid: id.to_string(), offset },
            _ => PsyncReply::Error(format!("Master replied with wrong +FULLRESYNC syntax: {line}")),
        };
    }
    if let Some(rest) = line.strip_prefix("+CONTINUE") {
        let id = rest.trim();
        // An id of another length is ignored, as Redis does (it keeps its own).
        return PsyncReply::Continue { replid: (id.len() == REPLID_LEN).then(|| id.to_string()) };
    }
    if line.starts_with("-NOMASTERLINK") || line.starts_with("-LOADING") {
        return PsyncReply::TryLater(line.to_string());
    }
    PsyncReply::Error(line.to_string())
}

/// The RDB transfer's preamble.
#[derive(Debug, PartialEq, Eq)]
pub enum RdbPreamble {
    Len(u64),
    Eof([u8; EOF_MARK_LEN]),
}

/// Parses the preamble line (without its CR LF), with Redis's error texts.
pub fn parse_rdb_preamble(line: &str) -> Result<RdbPreamble, String> {
    let Some(rest) = line.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{line}'), are you sure the host and port are right?"
        ));
    };
    if let Some(mark) = rest.strip_prefix("EOF:") {
        let bytes = mark.as_bytes();
        if bytes.len() != EOF_MARK_LEN {
            return Err("Bad EOF mark from MASTER".into());
        }
        let mut m = [0u8; EOF_MARK_LEN];
        m.copy_from_slice(bytes);
        return Ok(RdbPreamble::Eof(m));
    }
    rest.parse::<u64>().map(RdbPreamble::Len).map_err(|_| format!("Bad RDB length from MASTER: '{line}'"))
}

/// Where `mark` starts in `payload`, looking only where it can end in bytes after `scanned`
/// (the length already searched by an earlier call: the mark may straddle two reads, so the
/// `EOF_MARK_LEN - 1` bytes before it are searched again). The first occurrence wins, as in a
/// transfer whose stream bytes may follow the mark in the same read.
pub fn find_eof_mark(payload: &[u8], scanned: usize, mark: &[u8; EOF_MARK_LEN]) -> Option<usize> {
    let from = scanned.saturating_sub(EOF_MARK_LEN - 1).min(payload.len());
    payload[from..].windows(EOF_MARK_LEN).position(|w| w == &mark[..]).map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psync_replies() {
        let id = "a".repeat(40);
        assert_eq!(
            parse_psync_reply(&format!("+FULLRESYNC {id} 123")),
            PsyncReply::Full { replid: id.clone(), offset: 123 }
        );
        assert!(matches!(parse_psync_reply("+FULLRESYNC abc 1"), PsyncReply::Error(_)));
        assert!(matches!(parse_psync_reply("+FULLRESYNC"), PsyncReply::Error(_)));
        assert!(matches!(parse_psync_reply(&format!("+FULLRESYNC {id} -1")), PsyncReply::Error(_)));
        assert_eq!(parse_psync_reply("+CONTINUE"), PsyncReply::Continue { replid: None });
        assert_eq!(parse_psync_reply(&format!("+CONTINUE {id}")), PsyncReply::Continue { replid: Some(id) });
        assert!(matches!(parse_psync_reply("-NOMASTERLINK x"), PsyncReply::TryLater(_)));
        assert!(matches!(parse_psync_reply("-LOADING x"), PsyncReply::TryLater(_)));
        assert!(matches!(parse_psync_reply("-ERR x"), PsyncReply::Error(_)));
    }

    #[test]
    fn preambles() {
        assert_eq!(parse_rdb_preamble("$10"), Ok(RdbPreamble::Len(10)));
        assert!(parse_rdb_preamble("$-1").is_err());
        assert!(parse_rdb_preamble("$").is_err());
        assert!(parse_rdb_preamble("+OK").is_err());
        assert!(parse_rdb_preamble("$EOF:short").is_err());
        let mark = "b".repeat(40);
        assert_eq!(parse_rdb_preamble(&format!("$EOF:{mark}")), Ok(RdbPreamble::Eof([b'b'; 40])));
    }

    #[test]
    fn eof_mark_across_reads() {
        let mark = [b'm'; 40];
        let mut payload = b"REDIS0010 payload".to_vec();
        payload.extend_from_slice(&mark[..15]);
        assert_eq!(find_eof_mark(&payload, 0, &mark), None);
        let scanned = payload.len();
        payload.extend_from_slice(&mark[15..]);
        payload.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(find_eof_mark(&payload, scanned, &mark), Some(17));
    }
}
