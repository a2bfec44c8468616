//! `str::parse::<f64>` for the filter's number syntax, without core's tables in the browser module
//! (docs/browser.md, "Bundle size"). Natively [`parse_f64`] calls core, and the tests compare this module's own code
//! with core.
//!
//! Core parses with Eisel-Lemire, whose table of 128-bit powers of five is 10 KiB of the `.wasm` that gzip barely
//! compresses. Here Clinger's fast path (at most 15 significant digits and a power of ten up to 10^22: one exact
//! multiplication or division, so one rounding) covers the usual numbers, and every other number is rounded exactly:
//! a bisection on the bits of the result, comparing the decimal with the midpoint between neighbouring floats as big
//! integers. That is the nearest `f64`, ties to even, as core gives. It is slower than core on those other numbers
//! (microseconds rather than nanoseconds), which does not matter for a filter's literals, parsed once per query.

/// `text.parse::<f64>().ok()` for `text` in the filter's number syntax, `-?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?`
/// (on `wasm32`, other text gives `None`; natively, whatever core gives).
pub(crate) fn parse_f64(text: &str) -> Option<f64> {
    #[cfg(target_arch = "wasm32")]
    return exact::parse_f64(text);
    #[cfg(not(target_arch = "wasm32"))]
    return text.parse().ok();
}

/// The exact method (compiled on `wasm32`, and natively for the tests).
#[cfg(any(test, target_arch = "wasm32"))]
mod exact {
    use std::cmp::Ordering;

    /// A non-negative integer: little-endian base-2^32 limbs, without high zero limbs (zero has none).
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Big {
        limbs: Vec<u32>,
    }

    /// The largest power of ten in a `u64`, and its exponent.
    const POWER_OF_TEN_MAX: (u64, u32) = (10_000_000_000_000_000_000, 19);

    impl Big {
        fn from_u64(value: u64) -> Self {
            let mut big = Self { limbs: vec![value as u32, (value >> 32) as u32] };
            big.trim();
            big
        }

        /// The integer whose decimal digits (most significant first, values `0..=9`) are `digits`.
        fn from_digits(digits: &[u8]) -> Self {
            let mut big = Self { limbs: Vec::new() };
            for chunk in digits.chunks(POWER_OF_TEN_MAX.1 as usize) {
                let value = chunk.iter().fold(0u64, |value, &digit| value * 10 + u64::from(digit));
                big.multiply_add(10u64.pow(chunk.len() as u32), value);
            }
            big
        }

        fn trim(&mut self) {
            while self.limbs.last() == Some(&0) {
                self.limbs.pop();
            }
        }

        fn is_zero(&self) -> bool {
            self.limbs.is_empty()
        }

        /// `self = self * factor + addend`.
        fn multiply_add(&mut self, factor: u64, addend: u64) {
            // Each step is below 2^32 * 2^64 + 2^65: it fits a u128.
            let mut carry = u128::from(addend);
            for limb in &mut self.limbs {
                let value = u128::from(*limb) * u128::from(factor) + carry;
                *limb = value as u32;
                carry = value >> 32;
            }
            while carry > 0 {
                self.limbs.push(carry as u32);
                carry >>= 32;
            }
            self.trim();
        }

        /// `self *= 10^exponent`.
        fn multiply_power_of_ten(&mut self, mut exponent: u32) {
            let (largest, largest_exponent) = POWER_OF_TEN_MAX;
            while exponent >= largest_exponent {
                self.multiply_add(largest, 0);
                exponent -= largest_exponent;
            }
            if exponent > 0 {
                self.multiply_add(10u64.pow(exponent), 0);
            }
        }

        /// `self * 2^bits`.
        fn shifted_left(&self, bits: u32) -> Self {
            if self.is_zero() {
                return self.clone();
            }
            let (words, bits) = ((bits / 32) as usize, bits % 32);
            let mut limbs = vec![0; words];
            if bits == 0 {
                limbs.extend_from_slice(&self.limbs);
            } else {
                let mut carry = 0;
                for &limb in &self.limbs {
                    limbs.push((limb << bits) | carry);
                    carry = limb >> (32 - bits);
                }
                if carry != 0 {
                    limbs.push(carry);
                }
            }
            Self { limbs }
        }

        fn compare(&self, other: &Self) -> Ordering {
            self.limbs.len().cmp(&other.limbs.len()).then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
        }
    }

    /// `digits × 10^exponent` (digits most significant first) as the fraction `numerator / denominator`.
    struct Decimal {
        numerator: Big,
        denominator: Big,
    }

    impl Decimal {
        fn new(digits: &[u8], exponent: i32) -> Self {
            let mut numerator = Big::from_digits(digits);
            let mut denominator = Big::from_u64(1);
            let scaled = if exponent >= 0 { &mut numerator } else { &mut denominator };
            scaled.multiply_power_of_ten(exponent.unsigned_abs());
            Self { numerator, denominator }
        }

        /// This value against `mantissa × 2^exponent`.
        fn compare_binary(&self, mantissa: u64, exponent: i32) -> Ordering {
            let mut right = self.denominator.clone();
            right.multiply_add(mantissa, 0);
            if exponent >= 0 {
                self.numerator.compare(&right.shifted_left(exponent.unsigned_abs()))
            } else {
                self.numerator.shifted_left(exponent.unsigned_abs()).compare(&right)
            }
        }
    }

    /// A finite non-negative `f64`'s bits as `(mantissa, exponent)`: the value is `mantissa × 2^exponent`.
    fn decompose(bits: u64) -> (u64, i32) {
        let fraction = bits & ((1 << 52) - 1);
        let biased = (bits >> 52) as i32;
        if biased == 0 { (fraction, -1074) } else { (fraction | (1 << 52), biased - 1075) }
    }

    /// Bounds on `digits + exponent` (the decimal is below `10^(digits + exponent)` and at least a tenth of it)
    /// past which the `f64` is infinite or zero: above 309 the decimal is at least 10^309, past `f64::MAX`; at -324 or
    /// below it is under 10^-324, below half of the smallest subnormal.
    const MAGNITUDE_INFINITE: i64 = 309;
    const MAGNITUDE_ZERO: i64 = -324;
    /// Digits kept exactly; the rest only count as "some non-zero digits". A float and a midpoint between two floats
    /// have at most 767 significant digits, so no such value lies strictly between the truncated decimal and the
    /// next one at the 800th digit: the decimal rounds as the truncated one followed by a 1.
    const DIGITS_MAX: usize = 800;
    /// Exact `f64` powers of ten, 10^0 through 10^22 (Clinger's fast path).
    const POWERS_OF_TEN: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    /// The bits of `f64::INFINITY`, the top of the bisection.
    const INFINITY_BITS: u64 = 0x7FF0_0000_0000_0000;

    /// See [`super::parse_f64`].
    pub(crate) fn parse_f64(text: &str) -> Option<f64> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent_text) = match unsigned.find(['e', 'E']) {
            Some(at) => (unsigned.get(..at)?, Some(unsigned.get(at + 1..)?)),
            None => (unsigned, None),
        };
        let (integer, fraction) = match mantissa.split_once('.') {
            Some((integer, fraction)) => (integer, Some(fraction)),
            None => (mantissa, None),
        };
        let all_digits = |text: &str| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
        if !all_digits(integer) || !fraction.is_none_or(all_digits) {
            return None;
        }
        let fraction = fraction.unwrap_or_default();
        let mut exponent: i64 = 0;
        if let Some(exponent_text) = exponent_text {
            let (exponent_negative, exponent_digits) = match exponent_text.as_bytes().first() {
                Some(b'-') => (true, exponent_text.get(1..)?),
                Some(b'+') => (false, exponent_text.get(1..)?),
                _ => (false, exponent_text),
            };
            if !all_digits(exponent_digits) {
                return None;
            }
            // Saturates far past any exponent that could matter (the text is bounded, so is its digit count).
            exponent =
                exponent_digits.bytes().fold(0i64, |value, digit| (value * 10 + i64::from(digit - b'0')).min(1 << 40));
            if exponent_negative {
                exponent = -exponent;
            }
        }
        exponent -= fraction.len() as i64;
        // The significant digits: no leading zeros; trailing zeros go into the exponent.
        let mut digits: Vec<u8> =
            integer.bytes().chain(fraction.bytes()).skip_while(|&byte| byte == b'0').map(|byte| byte - b'0').collect();
        while digits.last() == Some(&0) {
            digits.pop();
            exponent += 1;
        }
        let magnitude = |value: f64| if negative { -value } else { value };
        let count = digits.len() as i64;
        if digits.is_empty() || count + exponent <= MAGNITUDE_ZERO {
            return Some(magnitude(0.0));
        }
        if count + exponent > MAGNITUDE_INFINITE {
            return Some(magnitude(f64::INFINITY));
        }
        if digits.len() > DIGITS_MAX {
            exponent += count - DIGITS_MAX as i64 - 1;
            digits.truncate(DIGITS_MAX);
            digits.push(1);
        }
        // Now |exponent| < 1200: the checks above bound it, given the digit count.
        let exponent = exponent as i32;
        if digits.len() <= 15 {
            let value = digits.iter().fold(0u64, |value, &digit| value * 10 + u64::from(digit)) as f64;
            let power = |index: i32| POWERS_OF_TEN.get(index.unsigned_abs() as usize).copied();
            if let Some(power) = power(exponent) {
                return Some(magnitude(if exponent >= 0 { value * power } else { value / power }));
            }
        }
        let decimal = Decimal::new(&digits, exponent);
        // The result is the least float `f` whose midpoint with the next float up is above the decimal (or equal to
        // it, when `f`'s mantissa is even: ties to even); the infinity is where every finite float fails.
        let (mut low, mut high) = (0, INFINITY_BITS);
        while low < high {
            let middle = low + (high - low) / 2;
            let (mantissa, binary_exponent) = decompose(middle);
            let rounds_to_middle_or_below = match decimal.compare_binary(2 * mantissa + 1, binary_exponent - 1) {
                Ordering::Less => true,
                Ordering::Equal => mantissa % 2 == 0,
                Ordering::Greater => false,
            };
            if rounds_to_middle_or_below {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        Some(magnitude(f64::from_bits(low)))
    }

    #[cfg(test)]
    mod tests {
        use proptest::prelude::*;

        use super::*;

        fn check_parse(text: &str) {
            let expected = text.parse::<f64>().unwrap();
            let parsed = parse_f64(text).unwrap();
            assert_eq!(parsed.to_bits(), expected.to_bits(), "{text}: {parsed:e} against core's {expected:e}");
        }

        /// The exact decimal of `(2 * mantissa + 1) * 2^(exponent - 1)`, the midpoint between the float
        /// `mantissa * 2^exponent` and the next one up, for exponents where it fits a u128 (computed without this
        /// module's code).
        fn midpoint_text(mantissa: u64, exponent: i32) -> String {
            let odd = u128::from(2 * mantissa + 1);
            if exponent >= 1 {
                (odd << (exponent - 1)).to_string()
            } else {
                // odd / 2^k = odd * 5^k / 10^k.
                let k = (1 - exponent) as u32;
                let digits = format!("{:0>width$}", odd * 5u128.pow(k), width = k as usize + 1);
                let (integer, fraction) = digits.split_at(digits.len() - k as usize);
                format!("{integer}.{fraction}")
            }
        }

        /// Half of a decimal `0.ddd` (long division), one digit longer.
        fn half_of(text: &str) -> String {
            let digits = text.strip_prefix("0.").unwrap();
            let mut half = String::from("0.");
            let mut carry = 0;
            for digit in digits.bytes().map(|byte| u32::from(byte - b'0')).chain([0]) {
                let value = carry * 10 + digit;
                half.push(char::from_digit(value / 2, 10).unwrap());
                carry = value % 2;
            }
            half
        }

        #[test]
        fn parses_the_edge_cases_as_core_does() {
            let long_digits = "1234567890".repeat(100);
            let cases = [
                "0",
                "-0",
                "0.0",
                "-0.0",
                "0e0",
                "0e999999999999999999999",
                "1",
                "-1",
                "9007199254740993",
                "9007199254740992",
                "123456789012345678901234567890",
                "0.1",
                "0.2",
                "0.30000000000000004",
                "1e22",
                "1e23",
                "1e-22",
                "1e-23",
                "8.5e-323",
                "1e308",
                "1.7976931348623157e308",
                "1.7976931348623158e308",
                "1.7976931348623159e308",
                "1e309",
                "-1e400",
                "1e-400",
                "1e99999999999999999999999",
                "1e-99999999999999999999999",
                "4.9406564584124654e-324",
                "2.4703282292062327e-324",
                "2.4703282292062328e-324",
                "2.2250738585072011e-308",
                "2.2250738585072014e-308",
                "5e-324",
                "3e-324",
                "2.5e-324",
                "1.5",
                "2.5",
                "0.000001",
                "123.456e-7",
                "1E5",
                "1e+5",
                "1.0e-0",
                "00000.0001000",
                // Cases proptest found against wrong variants of this code (ties to even, the fast path's limit).
                "18015000000000118",
                "-1.5e25",
                "-15190589608272367000000000",
                "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9999999999999999999999999999999999999999999999999999999999999999999999",
            ];
            for case in cases {
                check_parse(case);
            }
            check_parse(&long_digits);
            check_parse(&format!("0.{long_digits}"));
            check_parse(&format!("{long_digits}e-1000"));
            check_parse(&format!("{long_digits}e-1300"));
            check_parse(&format!("{long_digits}e-700"));
            check_parse(&format!("0.{}1e-300", "0".repeat(900)));
            // The exact midpoint between 0 and the smallest subnormal (2^-1075, half of core's exact digits of
            // 2^-1074), and just above it.
            let half_subnormal = half_of(&format!("{:.1074}", f64::from_bits(1)));
            check_parse(&half_subnormal);
            check_parse(&format!("{half_subnormal}000000000000000000001"));
            assert!(parse_f64("1e-325").is_some_and(|value| value == 0.0));
        }

        #[test]
        fn rejects_text_outside_the_filter_syntax() {
            for text in ["", "-", ".5", "5.", "+5", "1e", "1e+", "inf", "NaN", "1.2.3", "1e5e5", "--1", "1_0", " 1"] {
                assert_eq!(parse_f64(text), None, "{text:?}");
            }
        }

        #[test]
        fn parses_midpoints_between_floats_as_core_does() {
            // Ties round to even: the midpoints themselves, and the decimals just below and above them.
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            for _ in 0..3000 {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let mantissa = (1 << 52) | (state >> 12);
                // Exponents whose midpoints fit a u128 (odd * 5^31 < 2^128).
                let exponent = (state % 70) as i32 - 30;
                let midpoint = midpoint_text(mantissa, exponent);
                check_parse(&midpoint);
                let with_point = if midpoint.contains('.') { midpoint.clone() } else { format!("{midpoint}.0") };
                check_parse(&format!("{with_point}000000000000000000000001"));
                let (head, last) = midpoint.split_at(midpoint.len() - 1);
                if last == "5" {
                    let point = if midpoint.contains('.') { "" } else { "." };
                    check_parse(&format!("{head}4{point}999999999999999999999999"));
                }
            }
        }

        proptest! {
            #[test]
            fn parses_filter_numbers_as_core_does(
                negative in any::<bool>(),
                integer in "[0-9]{1,25}",
                fraction in proptest::option::of("[0-9]{1,25}"),
                exponent in proptest::option::of(("[eE]", "[+-]?", 0u32..400)),
            ) {
                let mut text = String::new();
                if negative {
                    text.push('-');
                }
                text.push_str(&integer);
                if let Some(fraction) = fraction {
                    text.push('.');
                    text.push_str(&fraction);
                }
                if let Some((letter, sign, value)) = exponent {
                    text.push_str(&format!("{letter}{sign}{value}"));
                }
                check_parse(&text);
            }

            #[test]
            fn parses_printed_floats_as_core_does(bits in any::<u64>(), digits in 1usize..40) {
                let value = f64::from_bits(bits);
                prop_assume!(value.is_finite());
                check_parse(&format!("{value}"));
                check_parse(&format!("{value:e}"));
                check_parse(&format!("{value:.digits$e}"));
                check_parse(&format!("{value:.digits$}"));
            }

        }
    }
}
