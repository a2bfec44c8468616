//! What the figures were measured on: the machine, its load, and this process's resident memory (all from
//! `/proc`; `None` or "unknown" elsewhere).

/// The machine a report describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The CPU model (`model name` in `/proc/cpuinfo`).
    pub cpu_model: String,
    /// Logical CPUs this process may use.
    pub logical_cpus: usize,
    /// The kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// Physical memory (`MemTotal` in `/proc/meminfo`).
    pub memory_bytes: Option<u64>,
}

/// Describes this machine.
pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
        .map_or_else(|| "unknown".to_owned(), |(_, model)| model.trim().to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned());
    let memory_bytes = proc_kilobytes("/proc/meminfo", "MemTotal:");
    let logical_cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    Machine { cpu_model, logical_cpus, kernel, memory_bytes }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

/// This process's resident set size (`VmRSS`).
pub fn resident_bytes() -> Option<u64> {
    proc_kilobytes("/proc/self/status", "VmRSS:")
}

/// CPU time the calling thread has used, in seconds (`CLOCK_THREAD_CPUTIME_ID`). On a machine shared with other
/// work, a single-threaded measurement taken in CPU time is inflated far less than one taken in wall time (only by
/// what the neighbors do to caches and shared cores, not by waiting for a core).
pub fn thread_cpu_seconds() -> f64 {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9
}

/// A `<key> <n> kB` line of a `/proc` file, in bytes.
fn proc_kilobytes(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find_map(|line| line.strip_prefix(key))?;
    let kilobytes: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// `unix_seconds` as `YYYY-MM-DD HH:MM UTC` (the proleptic Gregorian calendar; Hinnant's `civil_from_days`).
pub fn utc_date_time(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds_of_day = unix_seconds % 86_400;
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", seconds_of_day / 3_600, seconds_of_day % 3_600 / 60)
}

/// Now, as [`utc_date_time`].
pub fn now_utc() -> String {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    utc_date_time(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date_time(1_763_833_020), "2025-11-22 17:37 UTC");
        assert_eq!(utc_date_time(4_107_542_399), "2100-02-28 23:59 UTC");
    }

    #[test]
    fn thread_cpu_time_grows_with_work_and_not_with_sleep() {
        let started = thread_cpu_seconds();
        let mut sum = 0_u64;
        for value in 0..20_000_000_u64 {
            sum = std::hint::black_box(sum.wrapping_add(value * value));
        }
        let worked = thread_cpu_seconds();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let slept = thread_cpu_seconds();
        assert!(worked > started, "{sum}");
        assert!(slept - worked < 0.04);
    }

    #[test]
    fn this_machine_is_described() {
        let described = machine();
        assert!(described.logical_cpus >= 1);
        assert!(!described.cpu_model.is_empty() && !described.kernel.is_empty());
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(resident_bytes().is_some_and(|bytes| bytes > 0));
            assert!(load_average().is_some());
        }
    }
}
