//! A software model of the x87 80-bit `long double` Redis computes INCRBYFLOAT and HINCRBYFLOAT in,
//! so our replies match its digits exactly: `strtold` (correctly rounded, decimal and hex forms),
//! addition rounded to 64 mantissa bits (round-half-even), and `printf("%.17Lf")`.
//!
//! f64 is not enough: Redis's 17 printed decimals show the long double's own rounding
//! (`10.6 + 5000` prints `5010.60000000000000009`), which an f64 sum cannot reproduce. This
//! module never touches anything but numbers.

use std::cmp::Ordering;

/// value = mant × 2^exp. Normal numbers have bit 63 of `mant` set; the smallest exponent is
/// that of the subnormals, the largest that of the largest finite value.
const MIN_EXP: i64 = -16445;
const MAX_EXP: i64 = 16320;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F80 {
    Zero {
        neg: bool,
    },
    Inf {
        neg: bool,
    },
    /// `mant` is never 0.
    Finite {
        neg: bool,
        mant: u64,
        exp: i64,
    },
}

/// An unsigned big integer, little-endian 32-bit limbs without trailing zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut limbs = Vec::new();
        while v != 0 {
            limbs.push(v as u32);
            v >>= 32;
        }
        Big(limbs)
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(&top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros() as u64),
        }
    }

    /// self = self × m + a.
    fn mul_add_small(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for limb in self.0.iter_mut() {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn shl(&mut self, bits: u64) {
        if self.is_zero() {
            return;
        }
        let (limbs, rem) = ((bits / 32) as usize, (bits % 32) as u32);
        if rem != 0 {
            let mut carry = 0u32;
            for limb in self.0.iter_mut() {
                let v = *limb;
                *limb = (v << rem) | carry;
                carry = v >> (32 - rem);
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        if limbs != 0 {
            self.0.splice(0..0, std::iter::repeat_n(0, limbs));
        }
    }

    fn cmp_big(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// self -= other, for self >= other.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let v = self.0[i] as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = i64::from(v < 0);
            self.0[i] = v.rem_euclid(1 << 32) as u32;
        }
        self.trim();
    }

    /// self /= d, returning the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 32) | *limb as u64;
            *limb = (v / d as u64) as u32;
            rem = v % d as u64;
        }
        self.trim();
        rem as u32
    }

    /// Bits [from, from+128) as an integer.
    fn bits_at(&self, from: u64) -> u128 {
        let mut v = 0u128;
        for k in 0..128u64 {
            let bit = from + k;
            let limb = (bit / 32) as usize;
            if limb >= self.0.len() {
                break;
            }
            if self.0[limb] >> (bit % 32) & 1 == 1 {
                v |= 1 << k;
            }
        }
        v
    }

    /// True if any of the bits below `n` is set.
    fn low_bits_nonzero(&self, n: u64) -> bool {
        let full = (n / 32) as usize;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let rem = n % 32;
        rem != 0 && self.0.get(full).is_some_and(|&l| l & ((1u32 << rem) - 1) != 0)
    }

    fn pow10(k: u64) -> Big {
        let mut v = Big::from_u128(1);
        let mut left = k;
        while left > 0 {
            let step = left.min(9);
            v.mul_add_small(10u32.pow(step as u32), 0);
            left -= step;
        }
        v
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut v = self.clone();
        let mut chunks = Vec::new();
        while !v.is_zero() {
            chunks.push(v.div_small(1_000_000_000));
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

/// Rounds (q + ε) × 2^exp2 to a long double, half to even, where ε in [0, 1) is nonzero iff
/// `sticky`. Callers set `sticky` only with q of at least 66 bits, so ε never reaches the
/// rounding position. Returns the value and whether a nonzero value rounded to zero.
fn round(neg: bool, q: u128, exp2: i64, sticky: bool) -> (F80, bool) {
    if q == 0 {
        return (F80::Zero { neg }, sticky);
    }
    let len = 128 - q.leading_zeros() as i64;
    let drop = (len - 64).max(MIN_EXP.saturating_sub(exp2));
    let (mut mant, mut exp) = if drop <= 0 {
        (q << (-drop) as u32, exp2 + drop)
    } else if drop > 128 {
        (0, exp2 + drop)
    } else {
        let kept = if drop == 128 { 0 } else { q >> drop };
        let rem = if drop == 128 { q } else { q & ((1u128 << drop) - 1) };
        let half = 1u128 << (drop - 1);
        let up = rem > half || (rem == half && (sticky || kept & 1 == 1));
        (kept + u128::from(up), exp2 + drop)
    };
    if mant >> 64 != 0 {
        mant >>= 1;
        exp += 1;
    }
    if mant == 0 {
        return (F80::Zero { neg }, true);
    }
    if exp > MAX_EXP {
        return (F80::Inf { neg }, false);
    }
    (F80::Finite { neg, mant: mant as u64, exp }, false)
}

/// Rounds big × 2^exp2 (+ε if `sticky`).
fn round_big(neg: bool, big: &Big, exp2: i64, sticky: bool) -> (F80, bool) {
    let len = big.bit_len();
    if len <= 127 && !sticky {
        return round(neg, big.bits_at(0), exp2, false);
    }
    let cut = len.saturating_sub(127);
    let sticky = sticky || big.low_bits_nonzero(cut);
    round(neg, big.bits_at(cut), exp2.saturating_add(cut as i64), sticky)
}

impl F80 {
    pub fn from_i64(n: i64) -> F80 {
        round(n < 0, n.unsigned_abs() as u128, 0, false).0
    }

    pub fn is_finite(self) -> bool {
        !matches!(self, F80::Inf { .. })
    }
}

/// C's `strtold` over the whole argument as Redis's `string2ld` uses it: `None` if the
/// text is not entirely a number (no leading space, no trailing bytes, under 5120 bytes),
/// is NaN, or overflows / underflows to zero.
pub fn parse(s: &[u8]) -> Option<F80> {
    if s.is_empty() || s.len() >= 5120 || matches!(s[0], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(F80::Inf { neg });
    }
    let is_hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let (value, lost) = if is_hex { parse_hex(neg, &body[2..])? } else { parse_decimal(neg, body)? };
    match value {
        // Overflow (HUGE_VAL with ERANGE) and underflow to zero are refused.
        F80::Inf { .. } => None,
        F80::Zero { .. } if lost => None,
        v => Some(v),
    }
}

/// Splits `digits[.digits]` (at least one digit) and an exponent introduced by `marker`
/// (`e` or `p`), returning (integer digits, fraction digits, exponent). `None` if anything
/// is left over.
fn split_number(s: &[u8], is_digit: fn(u8) -> bool, marker: u8) -> Option<(&[u8], &[u8], i64)> {
    let int_len = s.iter().take_while(|&&c| is_digit(c)).count();
    let (int, mut rest) = s.split_at(int_len);
    let mut frac: &[u8] = &[];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|&&c| is_digit(c)).count();
        frac = &rest[1..1 + n];
        rest = &rest[1 + n..];
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if !rest.is_empty() {
        if rest[0] | 0x20 != marker {
            return None;
        }
        let (eneg, edigits) = match rest.get(1) {
            Some(b'-') => (true, &rest[2..]),
            Some(b'+') => (false, &rest[2..]),
            _ => (false, &rest[1..]),
        };
        if edigits.is_empty() || !edigits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for &d in edigits {
            // Saturates far beyond any representable exponent.
            exp = (exp * 10 + (d - b'0') as i64).min(1 << 40);
        }
        if eneg {
            exp = -exp;
        }
    }
    Some((int, frac, exp))
}

fn parse_decimal(neg: bool, s: &[u8]) -> Option<(F80, bool)> {
    let (int, frac, exp) = split_number(s, |c| c.is_ascii_digit(), b'e')?;
    let digits: Vec<u8> = int.iter().chain(frac).copied().skip_while(|&c| c == b'0').collect();
    if digits.is_empty() {
        return Some((F80::Zero { neg }, false));
    }
    let e10 = exp - frac.len() as i64;
    let magnitude = e10 + digits.len() as i64;
    if magnitude > 5000 {
        return Some((F80::Inf { neg }, false));
    }
    if magnitude < -5000 {
        return Some((F80::Zero { neg }, true));
    }
    let mut d = Big(Vec::new());
    for chunk in digits.chunks(9) {
        let v = chunk.iter().fold(0u32, |a, &c| a * 10 + (c - b'0') as u32);
        d.mul_add_small(10u32.pow(chunk.len() as u32), v);
    }
    if e10 >= 0 {
        let p = Big::pow10(e10 as u64);
        let mut n = Big(Vec::new());
        // n = d × p, schoolbook.
        n.0.resize(d.0.len() + p.0.len() + 1, 0);
        for (i, &x) in d.0.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &y) in p.0.iter().enumerate() {
                let v = n.0[i + j] as u64 + x as u64 * y as u64 + carry;
                n.0[i + j] = v as u32;
                carry = v >> 32;
            }
            let mut k = i + p.0.len();
            while carry != 0 {
                let v = n.0[k] as u64 + carry;
                n.0[k] = v as u32;
                carry = v >> 32;
                k += 1;
            }
        }
        n.trim();
        return Some(round_big(neg, &n, 0, false));
    }
    // d / 10^k as q × 2^-shift: scale the dividend (or, for a huge d, the divisor) by a
    // power of two so the quotient has 66 or 67 bits, then divide bit by bit; the
    // remainder only decides the sticky bit.
    let p = Big::pow10((-e10) as u64);
    let shift = p.bit_len() as i64 - d.bit_len() as i64 + 66;
    let (mut num, mut den) = (d, p);
    if shift >= 0 {
        num.shl(shift as u64);
    } else {
        den.shl(shift.unsigned_abs());
    }
    let qbits = num.bit_len().saturating_sub(den.bit_len());
    let mut q: u128 = 0;
    for i in (0..=qbits).rev() {
        let mut divisor = den.clone();
        divisor.shl(i);
        if num.cmp_big(&divisor) != Ordering::Less {
            num.sub_assign(&divisor);
            q |= 1 << i;
        }
    }
    Some(round(neg, q, -shift, !num.is_zero()))
}

fn parse_hex(neg: bool, s: &[u8]) -> Option<(F80, bool)> {
    let (int, frac, exp) = split_number(s, |c| c.is_ascii_hexdigit(), b'p')?;
    let mut h = Big(Vec::new());
    for &c in int.iter().chain(frac) {
        let v = (c as char).to_digit(16).unwrap_or(0);
        h.mul_add_small(16, v);
    }
    if h.is_zero() {
        return Some((F80::Zero { neg }, false));
    }
    let exp2 = exp.saturating_sub(4 * frac.len() as i64);
    if exp2 + h.bit_len() as i64 > 20_000 {
        return Some((F80::Inf { neg }, false));
    }
    if exp2 + (h.bit_len() as i64) < -20_000 {
        return Some((F80::Zero { neg }, true));
    }
    Some(round_big(neg, &h, exp2, false))
}

/// a + b rounded as the x87 does; `None` for NaN (∞ − ∞).
pub fn add(a: F80, b: F80) -> Option<F80> {
    let parts = |v: F80| match v {
        F80::Finite { neg, mant, exp } => {
            // Normalise subnormals so the larger operand is the one with the larger exp.
            let z = mant.leading_zeros();
            Some((neg, mant << z, exp - z as i64))
        }
        _ => None,
    };
    match (a, b) {
        (F80::Inf { neg: x }, F80::Inf { neg: y }) => return if x == y { Some(a) } else { None },
        (F80::Inf { .. }, _) => return Some(a),
        (_, F80::Inf { .. }) => return Some(b),
        (F80::Zero { neg: x }, F80::Zero { neg: y }) => return Some(F80::Zero { neg: x && y }),
        (F80::Zero { .. }, _) => return Some(b),
        (_, F80::Zero { .. }) => return Some(a),
        _ => {}
    }
    let (mut x, mut y) = (parts(a)?, parts(b)?);
    if y.2 > x.2 {
        std::mem::swap(&mut x, &mut y);
    }
    // x has the larger exponent. Work 60 bits below x's last bit; anything of y below
    // that is folded into a sticky last bit, which keeps half-to-even rounding exact.
    const GUARD: i64 = 60;
    let base = x.2 - GUARD;
    let big = (x.1 as u128) << GUARD;
    let gap = base - y.2;
    let small = if gap <= 0 {
        (y.1 as u128) << (-gap) as u32
    } else if gap >= 128 {
        1
    } else {
        let lost = y.1 as u128 & ((1u128 << gap) - 1);
        ((y.1 as u128) >> gap) | u128::from(lost != 0)
    };
    let (neg, sum) = if x.0 == y.0 {
        (x.0, big + small)
    } else if big >= small {
        (x.0, big - small)
    } else {
        (y.0, small - big)
    };
    if sum == 0 {
        return Some(F80::Zero { neg: false });
    }
    Some(round(neg, sum, base, false).0)
}

/// `printf("%.17Lf")` with Redis's human-mode cleanup: trailing zeros and a trailing dot
/// removed, and `-0` printed as `0`. Infinities never reach here (INCRBYFLOAT refuses them).
pub fn format_human(v: F80) -> String {
    let (neg, mant, exp) = match v {
        F80::Finite { neg, mant, exp } => (neg, mant, exp),
        F80::Zero { .. } => return "0".to_string(),
        F80::Inf { neg } => return if neg { "-inf" } else { "inf" }.to_string(),
    };
    const DIGITS: u32 = 17;
    let (int_part, frac17) = if exp >= 0 {
        let mut n = Big::from_u128(mant as u128);
        n.shl(exp as u64);
        (n, 0u64)
    } else {
        let s = (-exp) as u64;
        let int = if s >= 64 { 0 } else { mant >> s };
        // fraction × 10^17, split at bit s: the digits above, the rounding remainder below.
        let mut f = Big::from_u128(if s >= 64 { mant as u128 } else { (mant & ((1u64 << s) - 1)) as u128 });
        f.mul_add_small(10u32.pow(DIGITS / 2), 0);
        f.mul_add_small(10u32.pow(DIGITS - DIGITS / 2), 0);
        let digits = f.bits_at(s) as u64;
        let rem_above_half = {
            // Compare the low s bits with 2^(s-1).
            let half_bit = f.bits_at(s - 1) & 1 == 1;
            let below = f.low_bits_nonzero(s - 1);
            match (half_bit, below) {
                (false, _) => Ordering::Less,
                (true, false) => Ordering::Equal,
                (true, true) => Ordering::Greater,
            }
        };
        let up = rem_above_half == Ordering::Greater || (rem_above_half == Ordering::Equal && digits & 1 == 1);
        let digits = digits + u64::from(up);
        let mut int = Big::from_u128(int as u128);
        if digits == 10u64.pow(DIGITS) {
            int.mul_add_small(1, 1);
            (int, 0)
        } else {
            (int, digits)
        }
    };
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(&int_part.to_decimal());
    let frac = format!("{frac17:017}");
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> F80 {
        parse(s.as_bytes()).unwrap_or_else(|| panic!("{s} should parse"))
    }

    fn sum(a: &str, b: &str) -> String {
        format_human(add(p(a), p(b)).unwrap())
    }

    #[test]
    fn exact_values_round_trip() {
        for s in ["0", "1", "-1", "1.5", "0.25", "17179869185.5", "1234567", "-9223372036854775808"] {
            assert_eq!(format_human(p(s)), s.trim_start_matches('+'));
        }
        assert_eq!(F80::from_i64(i64::MIN), p("-9223372036854775808"));
        assert_eq!(F80::from_i64(i64::MAX), p("9223372036854775807"));
    }

    #[test]
    fn sums_print_like_x87_redis() {
        // Replies captured from redis-server 7.0.15 on x86-64.
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("10.6", "5.0e3"), "5010.60000000000000009");
        assert_eq!(sum("5010.60000000000000009", "-5.0e3"), "10.60000000000000009");
        assert_eq!(sum("1234567", "0.1"), "1234567.10000000000002274");
        assert_eq!(sum("3", "1.1111111111111111111111"), "4.11111111111111111");
        assert_eq!(sum("5", "0.024390243902439025"), "5.02439024390243902");
        assert_eq!(sum("5.02439024390243902", "-0.024390243902439025"), "5");
        assert_eq!(sum("0", "-0.0"), "0");
        assert_eq!(sum("5216", "0x10"), "5232");
        // A long integer part with a fraction (quotient far wider than the divisor).
        let big = "10000000000000000000089973240795591938705239442732907479382600823212656465961809357558491520837504971903503725086142748359035925561846729839130962605207486462873271356418436532940842551076060167897266529323700305513829476209945402947727818896206061792676116270974106505671873861056900894249151040061443.5";
        assert_eq!(
            sum(big, "5."),
            "9999999999999999999944756745827058436478866151897956252807282444144356225819644136922169191036684232299483381873627479746750893941710697314672507014822241764846823057482655807766724304938612914582551059613319667147595179746825145408072765311550018815317024577580682864752728831227394652762455205216256"
        );
        assert_eq!(
            sum("1e308", "1e308"),
            "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"
        );
    }

    #[test]
    fn strtold_syntax() {
        for bad in [
            "", " 1", "1 ", "1e", "e5", ".", "-", "nan", "NaN(1)", "0x", "0xp1", "1e99999", "1e-99999", "abc", "1\x002",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in [".5", "5.", "+1", "1E2", "0x1p-2", "0X.8P1", "inf", "-Infinity", "1e-4940", "0e99999"] {
            assert!(parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert_eq!(format_human(p("0x1p-2")), "0.25");
        assert_eq!(format_human(p("0X.8P1")), "1");
    }

    /// Every expected string is what redis-server 7.0.15 (x86-64) replied to HINCRBYFLOAT with a
    /// field holding `start` and the given increment.
    #[test]
    fn hincrbyfloat_known_answers() {
        let cases = [
                ("0", "1.5", "1.5"),
                ("1.5", "1", "2.5"),
                ("2", "0x10", "18"),
                ("0", "3.0", "3"),
                ("0", "-0", "0"),
                ("0", "1e20", "100000000000000000000"),
                ("0", "1.23456789012345678901", "1.23456789012345679"),
                ("0", "5e-20", "0"),
                ("0", "1e-5", "0.00001"),
                ("0.00001", "1e-5", "0.00002"),
                ("0.00002", "123456789012345678", "123456789012345678"),
                ("0.1", "0.1", "0.2"),
                ("0.2", "0.1", "0.3"),
                ("0.3", "-0.3", "0"),
                ("0", "1e-18", "0"),
                ("1", ".5", "1.5"),
                ("1.5", "+.5", "2"),
                ("2", "0x1p-2", "2.25"),
                ("2.25", "1e-4950", "2.25"),
                ("9223372036854775807", "1", "9223372036854775808"),
                ("10.50", "0.1", "10.6"),
                ("0x1p-16445", "-1.611139309", "-1.611139309"),
                ("1e30", "+978693152161.401473", "1000000000000000000986768736256"),
                ("2.5e-17", "+322227012065825.5845670", "322227012065825.584564208984375"),
                ("18446744073709551617", "-771068753665144.1620", "18445973004955886472"),
                ("9.999999999999999995", "-0xf14cf36000a8c9492d59.fffp3", "-9116078495510882677161984"),
                ("0.5e-17", "-0.000000000000000015", "-0.00000000000000001"),
                ("99999999999999999.999999999999999999", "8920244853010123.8348175575", "108920244853010123.8359375"),
                ("0x3p-16446", "665731038291.88289162838218", "665731038291.88289165496826172"),
                ("-0.000000000000000025", "+5743791.28134252334693130", "5743791.28134252334712073"),
                ("5.0e3", "2.0e2", "5200"),
                (
                    "1.5e308",
                    "1.5e308",
                    "299999999999999999999802952978936936062033681930121889934267370842360212133382092073513329456432044063805856741044049928681709165013290418975721613155792350350455287355122225755520606513477793033688249842856870392034430282663023473578541488576654642706081008486842868180099693230377808905266593729023699845120",
                ),
        ];
        for (start, by, want) in cases {
            let (Some(a), Some(b)) = (parse(start.as_bytes()), parse(by.as_bytes())) else {
                panic!("{start} or {by} did not parse");
            };
            let got = add(a, b).filter(|r| r.is_finite()).map(format_human);
            assert_eq!(got.as_deref(), Some(want), "{start} + {by}");
        }
    }
}
