//! INFO latencystats: Redis 7.0's per-command latency histograms. Each is an HDR histogram with
//! Redis's parameters (1 ns to 1 s, 2 significant figures: 3072 counters), so the percentiles we
//! print are the values Redis's `hdr_value_at_percentile` would give for the same durations.
//!
//! Owns the bucket arithmetic (value -> counter index, index -> value range) and the percentile
//! walk, as pure functions over a slice of counts. It never allocates on the recording path, takes
//! no lock and reads no clock: the worker that ran a command records its duration in its own
//! counters ([`crate::shared::CommandCounters::record_latency_us`]), and INFO sums the workers'
//! counts before walking them. Rejected alternative: a coarser log2 histogram (16 counters) — cheaper
//! to sum, but its percentiles would not be Redis's numbers.

/// `LATENCY_HISTOGRAM_MIN_VALUE` / `MAX_VALUE`: durations are clamped into [1 ns, 1 s].
const MIN_VALUE_NS: u64 = 1;
const MAX_VALUE_NS: u64 = 1_000_000_000;

/// HDR layout for lowest 1, highest 1e9, 2 significant figures: sub-buckets of 256 (the smallest
/// power of two above 2 * 10^2), half of them (128) new per bucket, unit magnitude 0, and 23
/// buckets until 256 << 22 passes 1e9.
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF_COUNT: usize = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_COUNT: u64 = 256;
const SUB_BUCKET_MASK: u64 = SUB_BUCKET_COUNT - 1;
const BUCKET_COUNT: usize = 23;

/// Counters per histogram.
pub const COUNTS_LEN: usize = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT;

fn bucket_index(value: u64) -> u32 {
    let pow2_ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros();
    pow2_ceiling - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
}

fn sub_bucket_index(value: u64, bucket: u32) -> u64 {
    value >> bucket
}

/// The counter a duration of `ns` nanoseconds goes to (after Redis's clamping).
pub fn counts_index(ns: u64) -> usize {
    let value = ns.clamp(MIN_VALUE_NS, MAX_VALUE_NS);
    let bucket = bucket_index(value);
    let sub = sub_bucket_index(value, bucket) as usize;
    ((bucket as usize + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub - SUB_BUCKET_HALF_COUNT
}

/// The lowest value counter `index` stands for (`hdr_value_at_index`).
fn value_at_index(index: usize) -> u64 {
    let mut bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as i64 - 1;
    let mut sub = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket < 0 {
        sub -= SUB_BUCKET_HALF_COUNT;
        bucket = 0;
    }
    (sub as u64) << bucket
}

fn lowest_equivalent(value: u64) -> u64 {
    let bucket = bucket_index(value);
    sub_bucket_index(value, bucket) << bucket
}

fn highest_equivalent(value: u64) -> u64 {
    let bucket = bucket_index(value);
    let sub = sub_bucket_index(value, bucket);
    let adjusted = if sub >= SUB_BUCKET_COUNT { bucket + 1 } else { bucket };
    lowest_equivalent(value) + (1u64 << adjusted) - 1
}

/// `hdr_value_at_percentile` over summed `counts`: the value (ns) at or below which `percentile`
/// percent of the recorded durations lie, as the highest value of its counter's range (the lowest,
/// for percentile 0). None when nothing was recorded.
pub fn value_at_percentile(counts: &[u64], percentile: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let requested = percentile.min(100.0);
    let wanted = (((requested / 100.0) * total as f64) + 0.5) as u64;
    let wanted = wanted.max(1);
    let mut seen = 0u64;
    let mut value = 0;
    for (i, &n) in counts.iter().enumerate() {
        seen += n;
        if seen >= wanted {
            value = value_at_index(i);
            break;
        }
    }
    Some(if percentile == 0.0 { lowest_equivalent(value) } else { highest_equivalent(value) })
}

/// A percentile as Redis names it in INFO (`sprintf("%f")` with trailing zeros trimmed: 50, 99.9).
pub fn percentile_label(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

/// One INFO line: `latency_percentiles_usec_<name>:p50=1.003,p99=...`, or None when the summed
/// `counts` are empty.
pub fn info_line(name: &str, counts: &[u64], percentiles: &[f64]) -> Option<String> {
    counts.iter().any(|&n| n > 0).then(|| {
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let ns = value_at_percentile(counts, p).unwrap_or(0);
                format!("p{}={:.3}", percentile_label(p), ns as f64 / 1000.0)
            })
            .collect();
        format!("latency_percentiles_usec_{name}:{}\r\n", values.join(","))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values_ns: &[u64]) -> Vec<u64> {
        let mut counts = vec![0u64; COUNTS_LEN];
        for &v in values_ns {
            counts[counts_index(v)] += 1;
        }
        counts
    }

    #[test]
    fn indexes_cover_the_range_in_order() {
        assert_eq!(counts_index(0), counts_index(1));
        assert_eq!(counts_index(u64::MAX), counts_index(MAX_VALUE_NS));
        assert!(counts_index(MAX_VALUE_NS) < COUNTS_LEN);
        let mut last = 0;
        for v in [1u64, 2, 255, 256, 257, 1000, 4095, 4096, 65_536, 1_000_000, 999_999_999] {
            let i = counts_index(v);
            assert!(i >= last, "{v}");
            last = i;
            assert!(value_at_index(i) <= v && v <= highest_equivalent(value_at_index(i)), "{v}");
        }
    }

    /// Values an HDR histogram with Redis's parameters gives (hdr_histogram's equivalent ranges:
    /// exact below 256 ns, then 2 significant figures).
    #[test]
    fn percentiles_are_hdr_values() {
        // Redis records microseconds * 1000: 1 us reads as 1.003 us (1000..=1003 share a counter).
        assert_eq!(value_at_percentile(&histogram(&[1000]), 50.0), Some(1003));
        assert_eq!(value_at_percentile(&histogram(&[200]), 50.0), Some(200));
        assert_eq!(value_at_percentile(&histogram(&[50_000_000]), 50.0), Some(50_069_503));
        let h = histogram(&[1000, 2000, 3000, 4000]);
        assert_eq!(value_at_percentile(&h, 0.0), Some(1000));
        assert_eq!(value_at_percentile(&h, 50.0), Some(2007));
        assert_eq!(value_at_percentile(&h, 100.0), Some(4015));
        assert_eq!(value_at_percentile(&vec![0; COUNTS_LEN], 50.0), None);
    }

    #[test]
    fn info_line_is_redis_format() {
        let h = histogram(&[1000, 1000, 5000]);
        assert_eq!(
            info_line("client|id", &h, &[50.0, 99.0, 99.9]).as_deref(),
            Some("latency_percentiles_usec_client|id:p50=1.003,p99=5.023,p99.9=5.023\r\n")
        );
        assert_eq!(percentile_label(0.0), "0");
        assert_eq!(percentile_label(100.0), "100");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(info_line("get", &vec![0; COUNTS_LEN], &[50.0]), None);
    }
}
