//! The `Reading` record and how producers fill it at random.

use core::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One measurement taken by a sensor.
///
/// `(producer, sequence)` identifies a reading uniquely within one run: each producer numbers
/// its readings 0, 1, 2, ... in the order it takes them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The station (producer thread) that took the reading, from 0.
    pub producer: u16,
    /// The producer's own count of readings, from 0: gaps or repeats in it show lost or
    /// duplicated readings.
    pub sequence: u32,
    /// The sensor measured: `producer * 100 + k` for one of the station's sensors `k < 16`.
    pub sensor_id: u32,
    /// When the reading was taken, in microseconds since 1970-01-01T00:00:00Z.
    pub timestamp_us: i64,
    /// What was measured; fixes the unit of `value`.
    pub quantity: Quantity,
    /// The measured value, in the unit of `quantity`.
    pub value: f64,
    /// The sensor's own verdict on the measurement.
    pub quality: Quality,
    /// The sensor's battery level, in percent (0 to 100).
    pub battery_pct: u8,
}

/// A measured quantity and, with it, the unit of [`Reading::value`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// Air temperature in degrees Celsius.
    Temperature,
    /// Relative humidity in percent.
    Humidity,
    /// Air pressure in hectopascals.
    Pressure,
    /// Illuminance in lux.
    Light,
    /// Carbon dioxide concentration in parts per million.
    Co2,
}

impl Quantity {
    const ALL: [Self; 5] = [
        Self::Temperature,
        Self::Humidity,
        Self::Pressure,
        Self::Light,
        Self::Co2,
    ];

    /// The unit symbol of values of this quantity.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Temperature => "°C",
            Self::Humidity => "%RH",
            Self::Pressure => "hPa",
            Self::Light => "lx",
            Self::Co2 => "ppm",
        }
    }

    /// A plausible range of values.
    fn range(self) -> core::ops::Range<f64> {
        match self {
            Self::Temperature => -30.0..45.0,
            Self::Humidity => 0.0..100.0,
            Self::Pressure => 950.0..1050.0,
            Self::Light => 0.0..100_000.0,
            Self::Co2 => 380.0..5_000.0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Temperature => "temperature",
            Self::Humidity => "humidity",
            Self::Pressure => "pressure",
            Self::Light => "light",
            Self::Co2 => "co2",
        }
    }
}

/// How far a reading can be trusted, as the sensor reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Within calibration.
    Good,
    /// Out of the usual range or taken while the sensor was settling.
    Suspect,
    /// The sensor flagged a fault; the value should not be used.
    Bad,
}

impl Quality {
    fn name(self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Suspect => "suspect",
            Self::Bad => "bad",
        }
    }
}

/// 2026-01-01T00:00:00Z: where the clock of a seeded run starts, so that the same seed gives
/// the same readings.
const SEEDED_EPOCH_US: i64 = 1_767_225_600_000_000;

/// Makes the readings of one producer: reproducible from `(seed, producer)`.
#[derive(Debug)]
pub struct Generator {
    rng: ChaCha8Rng,
    producer: u16,
    sequence: u32,
    /// Timestamp of the reading before, in microseconds.
    clock_us: i64,
    /// Battery level, which only drains.
    battery_pct: u8,
}

impl Generator {
    /// A generator for `producer` in a run seeded with `seed`, whose clock starts at `start_us`
    /// (microseconds since the Unix epoch), or at a fixed date when `start_us` is `None`.
    pub fn new(seed: u64, producer: u16, start_us: Option<i64>) -> Self {
        // One independent stream per producer: readings do not depend on thread scheduling.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::from(producer));
        let battery_pct = rng.random_range(60..=100);
        Self {
            rng,
            producer,
            sequence: 0,
            clock_us: start_us.unwrap_or(SEEDED_EPOCH_US),
            battery_pct,
        }
    }

    /// The next reading.
    ///
    /// # Panics
    ///
    /// After `u32::MAX + 1` readings, when the sequence number would wrap.
    pub fn next_reading(&mut self) -> Reading {
        let rng = &mut self.rng;
        let quantity = Quantity::ALL[rng.random_range(0..Quantity::ALL.len())];
        let quality = match rng.random_range(0..100) {
            0 => Quality::Bad,
            1..=4 => Quality::Suspect,
            _ => Quality::Good,
        };
        // Readings come about every 10 ms, with jitter.
        self.clock_us += rng.random_range(5_000..15_000);
        if rng.random_ratio(1, 500) {
            self.battery_pct = self.battery_pct.saturating_sub(1);
        }
        let reading = Reading {
            producer: self.producer,
            sequence: self.sequence,
            sensor_id: u32::from(self.producer) * 100 + rng.random_range(0..16),
            timestamp_us: self.clock_us,
            quantity,
            // Rounded to what a real sensor resolves: two decimals.
            value: (rng.random_range(quantity.range()) * 100.0).round() / 100.0,
            quality,
            battery_pct: self.battery_pct,
        };
        self.sequence = self
            .sequence
            .checked_add(1)
            .expect("at most 2^32 readings per producer");
        reading
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} producer={} seq={} sensor={} {}={} {} quality={} battery={}%",
            Timestamp(self.timestamp_us),
            self.producer,
            self.sequence,
            self.sensor_id,
            self.quantity.name(),
            self.value,
            self.quantity.unit(),
            self.quality.name(),
            self.battery_pct,
        )
    }
}

/// Microseconds since the Unix epoch, shown as RFC 3339 in UTC.
struct Timestamp(i64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000);
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_rfc3339() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            Timestamp(SEEDED_EPOCH_US + 1).to_string(),
            "2026-01-01T00:00:00.000001Z"
        );
        // 2024-02-29T23:59:59.5Z, a leap day.
        assert_eq!(
            Timestamp(1_709_251_199_500_000).to_string(),
            "2024-02-29T23:59:59.500000Z"
        );
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999999Z");
        // Extreme values do not panic.
        let _ = Timestamp(i64::MIN).to_string();
        let _ = Timestamp(i64::MAX).to_string();
    }

    #[test]
    fn generators_are_reproducible_and_independent() {
        let a: Vec<_> = {
            let mut g = Generator::new(7, 3, None);
            (0..50).map(|_| g.next_reading()).collect()
        };
        let mut g = Generator::new(7, 3, None);
        assert!(a.iter().all(|r| *r == g.next_reading()));
        let mut other = Generator::new(7, 4, None);
        assert_ne!(a[0].value, other.next_reading().value);
        assert!(a.windows(2).all(|w| w[0].timestamp_us < w[1].timestamp_us));
        assert!(a.iter().enumerate().all(|(i, r)| r.sequence == i as u32));
        assert!(a
            .iter()
            .all(|r| r.quantity.range().contains(&r.value) || r.value == r.quantity.range().end));
    }
}
