//! Number formatting exactly as Redis prints doubles, so replies compare byte for byte.

/// Formats like C's `printf("%.17g", d)`, which Redis 7.0 uses for double replies (ZSCORE,
/// ZINCRBY, WITHSCORES) in both RESP2 and RESP3. Infinities print as `inf` / `-inf`, as Redis's
/// own special case does; NaN as `nan`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    const PRECISION: i32 = 17;
    // Rust's `{:e}` with 16 fractional digits rounds exactly as %.17g does; only the layout
    // (fixed or exponential, trailing zeros) has to be rebuilt from it.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, d);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::with_capacity(32);
    if negative {
        out.push('-');
    }
    if !(-4..PRECISION).contains(&exp) {
        out.push_str(&digits[..1]);
        let frac = digits[1..].trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push('0');
        }
        out.push_str(&abs.to_string());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        out.push_str(&digits[..int_len]);
        let frac = digits[int_len..].trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// Formats a float result the way Redis's INCRBYFLOAT / HINCRBYFLOAT store and reply it
/// (`ld2string` in human mode: `%.17Lf` with trailing zeros removed).
///
/// Redis computes in 80-bit long double; we compute in f64. Printing f64 with 17 fixed decimals
/// would expose binary noise Redis's extra precision hides (10.6 → 10.59999999999999964), so we
/// print the shortest decimal that round-trips, which matches Redis for every value a user
/// types; only results needing more than 17 decimals are rounded to 17 as Redis does.
pub fn format_long_double(d: f64) -> String {
    let shortest = format!("{d}");
    let s = match shortest.split_once('.') {
        Some((_, frac)) if frac.len() > 17 => {
            let fixed = format!("{d:.17}");
            let trimmed = fixed.trim_end_matches('0');
            trimmed.trim_end_matches('.').to_string()
        }
        _ => shortest,
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_17g() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(100.0), "100");
        assert_eq!(format_double(-2.0), "-2");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(1.0e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(3.0e300), "3.0000000000000002e+300");
    }

    #[test]
    fn human_long_double() {
        assert_eq!(format_long_double(10.5), "10.5");
        assert_eq!(format_long_double(10.5 + 0.1), "10.6");
        assert_eq!(format_long_double(3.0), "3");
        assert_eq!(format_long_double(-0.0), "0");
        assert_eq!(format_long_double(5.0e3), "5000");
    }
}
