//! Kubernetes resource quantities (`128Mi`, `1G`, `0.5`, `500m`, `1e3`), parsed exactly.
//!
//! The grammar is apimachinery's: a decimal number, then a binary suffix (`Ki` … `Ei`), a
//! decimal suffix (`n u m k M G T P E`) or an exponent (`e3`, `E-2`). Values are kept as an
//! integer mantissa with powers of ten and 1024, never as floats, so `0.1Gi` is a whole number
//! of bytes; like Kubernetes, a fractional result rounds up (`0.5m` of memory is one byte).

/// An exact, non-negative quantity: `mantissa × 10^exp10 × 1024^exp1024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quantity {
    mantissa: i128,
    exp10: i32,
    exp1024: u32,
}

/// Beyond this many mantissa digits an i128 may overflow; Kubernetes itself caps precision.
const MAX_DIGITS: usize = 30;

fn parse(text: &str) -> Result<Quantity, String> {
    let bad = || format!("{text:?} is not a quantity (like 128Mi, 1G, 500m or 0.5)");
    let s = text.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(format!("{text:?} is negative"));
    }
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return Err(bad());
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > MAX_DIGITS {
        return Err(format!("{text:?} is out of range"));
    }
    let mantissa = if digits.is_empty() {
        0
    } else {
        digits.parse::<i128>().map_err(|_| bad())?
    };
    let frac_len = i32::try_from(frac_part.len()).map_err(|_| bad())?;
    let (exp10, exp1024) = suffix_exponents(suffix).ok_or_else(bad)?;
    Ok(Quantity {
        mantissa,
        exp10: exp10 - frac_len,
        exp1024,
    })
}

/// The powers of ten and of 1024 a suffix stands for.
fn suffix_exponents(suffix: &str) -> Option<(i32, u32)> {
    let decimal = match suffix {
        "" => Some(0),
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(exp) = decimal {
        return Some((exp, 0));
    }
    let binary = match suffix {
        "Ki" => Some(1),
        "Mi" => Some(2),
        "Gi" => Some(3),
        "Ti" => Some(4),
        "Pi" => Some(5),
        "Ei" => Some(6),
        _ => None,
    };
    if let Some(exp) = binary {
        return Some((0, exp));
    }
    // `e3`, `E-2`: a decimal exponent (an integer; Kubernetes allows nothing fancier in practice).
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let value: i32 = exponent.parse().ok()?;
    (-40..=40).contains(&value).then_some((value, 0))
}

impl Quantity {
    /// `self × 10^extra10`, rounded up to an integer; None on overflow.
    fn ceil_scaled(self, extra10: i32) -> Option<i128> {
        let mut value = self.mantissa;
        for _ in 0..self.exp1024 {
            value = value.checked_mul(1024)?;
        }
        let exp = self.exp10 + extra10;
        if exp >= 0 {
            value.checked_mul(10i128.checked_pow(exp.unsigned_abs())?)
        } else if exp < -38 {
            // Smaller than one unit: any non-zero value rounds up to one.
            Some(i128::from(value > 0))
        } else {
            let divisor = 10i128.pow(exp.unsigned_abs());
            Some(value / divisor + i128::from(value % divisor != 0))
        }
    }
}

/// A memory quantity in bytes (`256Mi` → 268435456).
pub fn parse_memory(text: &str) -> Result<i64, String> {
    let quantity = parse(text)?;
    quantity
        .ceil_scaled(0)
        .and_then(|bytes| i64::try_from(bytes).ok())
        .ok_or_else(|| format!("{text:?} is out of range"))
}

/// A CPU quantity in CPUs (`500m` → 0.5), at Kubernetes' precision of one millicore.
pub fn parse_cpu(text: &str) -> Result<f64, String> {
    let quantity = parse(text)?;
    let milli = quantity
        .ceil_scaled(3)
        .and_then(|milli| u32::try_from(milli).ok())
        .ok_or_else(|| format!("{text:?} is out of range"))?;
    Ok(f64::from(milli) / 1000.0)
}

/// Whether `text` is a quantity at all (a claim's storage request, which berth only carries).
pub fn check(text: &str) -> Result<(), String> {
    parse(text).map(|_| ())
}

/// Bytes as the shortest exact binary quantity: `268435456` → `256Mi`, `1000` → `1000`.
pub fn format_memory(bytes: i64) -> String {
    const UNITS: [(&str, i64); 4] = [
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (suffix, unit) in UNITS {
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// CPUs as Kubernetes writes them: whole CPUs plain (`2`), anything else in millicores
/// (`1500m`), rounded to the nearest millicore, which is Kubernetes' finest step.
pub fn format_cpu(cpus: f64) -> String {
    let milli = (cpus * 1000.0).round().max(0.0);
    // `as` saturates; a limit beyond u64 millicores is not a machine this code runs on.
    let milli = milli as u64;
    if milli.is_multiple_of(1000) {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_quantities() {
        let cases: &[(&str, i64)] = &[
            ("128Mi", 128 << 20),
            ("1G", 1_000_000_000),
            ("1e3", 1000),
            ("1E3", 1000),
            ("0.5Gi", 512 << 20),
            ("1.5Ki", 1536),
            ("268435456", 268_435_456),
            ("500m", 1),
            ("0", 0),
            (".5k", 500),
            ("5.", 5),
            ("+2Mi", 2 << 20),
            ("1Ei", 1 << 60),
            ("12e-1", 2),
        ];
        for (text, want) in cases {
            assert_eq!(parse_memory(text), Ok(*want), "{text}");
        }
    }

    #[test]
    fn cpu_quantities() {
        let cases: &[(&str, f64)] = &[
            ("500m", 0.5),
            ("0.5", 0.5),
            ("1.5", 1.5),
            ("2", 2.0),
            ("1e0", 1.0),
            ("100u", 0.001),
            ("250000u", 0.25),
        ];
        for (text, want) in cases {
            assert_eq!(parse_cpu(text), Ok(*want), "{text}");
        }
    }

    #[test]
    fn bad_quantities() {
        for text in [
            "", "Mi", "12Q", "1.2.3", "-1", "1 Gi", "1e", "e3", "1e99", "1ii", "0x10", "1mi",
        ] {
            assert!(parse_memory(text).is_err(), "{text:?} should be rejected");
        }
        assert!(parse_memory("9Ei").is_err(), "beyond i64 bytes");
        assert!(parse_memory("99999999999999999999999999999999999").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for bytes in [
            0,
            1,
            1000,
            1024,
            268_435_456,
            3 << 30,
            (1 << 40) + 1024,
            123_456_789,
        ] {
            assert_eq!(parse_memory(&format_memory(bytes)), Ok(bytes), "{bytes}");
        }
        assert_eq!(format_memory(268_435_456), "256Mi");
        assert_eq!(format_memory(1000), "1000");
        for cpus in [0.001, 0.5, 1.0, 1.5, 2.0, 0.333, 16.0] {
            assert_eq!(parse_cpu(&format_cpu(cpus)), Ok(cpus), "{cpus}");
        }
        assert_eq!(format_cpu(0.5), "500m");
        assert_eq!(format_cpu(2.0), "2");
        assert_eq!(format_cpu(1.5), "1500m");
    }
}
