//! The power cut the two crash-and-recover targets ([`crate::recovery_image`], [`crate::vecdb_ops`]) share: how an
//! epoch ends (a clean close or not), where the power goes (in the open or in the steps, as a fraction of their I/O
//! points) and which crash image the disk builds, all drawn from the input; and the label of what a cut reached.

use arbitrary::Unstructured;
use storage_mem::SimulatedDisk;

/// Sector sizes the simulated disk tears writes at (the input picks one per run).
pub const SECTOR_BYTES: [u64; 4] = [16, 64, 512, 4096];

/// Which crash image [`SimulatedDisk`] builds after the power is cut.
#[derive(Clone, Copy, Debug)]
pub enum CrashKind {
    /// [`SimulatedDisk::crash`]: each un-synced write kept, lost or torn, by seed.
    Seeded(u64),
    /// [`SimulatedDisk::crash_in_order`]: a prefix of the un-synced writes survives, the next one torn.
    InOrder(u64),
    /// Every un-synced write lost.
    LoseUnsynced,
    /// Every write kept (a process crash).
    KeepEverything,
}

/// How one epoch ends.
#[derive(Clone, Copy, Debug)]
pub struct PowerCut {
    /// Close the store cleanly after the steps (when none failed), then cut the power.
    pub close_at_end: bool,
    /// Cut the power during the open (recovery or creation) rather than during the steps.
    pub halt_in_open: bool,
    /// Where the power is cut, as a fraction (of 65,536) of the open's or the steps' I/O points.
    pub halt_fraction: u16,
    /// The crash image taken when the power goes.
    pub crash: CrashKind,
}

impl PowerCut {
    /// Draws a cut. `ratio` answers true once the input is exhausted: the choices are phrased so that an exhausted
    /// input means the deeper one (no clean close, a cut in the steps).
    pub fn draw(input: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        let close_at_end = !input.ratio(3u8, 4)?;
        let halt_in_open = !input.ratio(4u8, 5)?;
        let halt_fraction = input.arbitrary()?;
        let crash = match input.int_in_range(0u8..=7)? {
            0..=3 => CrashKind::Seeded(input.arbitrary()?),
            4..=5 => CrashKind::InOrder(input.arbitrary()?),
            6 => CrashKind::LoseUnsynced,
            _ => CrashKind::KeepEverything,
        };
        Ok(Self { close_at_end, halt_in_open, halt_fraction, crash })
    }

    /// The cut's point within `span` I/O points: `0..span` (`span` itself only when the fraction is at its top).
    pub fn point_in(&self, span: u64) -> u64 {
        u64::from(self.halt_fraction) * span / 65_536
    }

    /// The crash image of `disk` (whose power was just cut).
    pub fn crash(&self, disk: &SimulatedDisk) -> SimulatedDisk {
        match self.crash {
            CrashKind::Seeded(seed) => disk.crash(seed),
            CrashKind::InOrder(seed) => disk.crash_in_order(seed),
            CrashKind::LoseUnsynced => disk.crash_losing_everything_unsynced(),
            CrashKind::KeepEverything => disk.crash_keeping_everything(),
        }
    }
}

/// Where a cut struck (`open`, `step` or `end`) and what recovery kept (`all` issued operations, exactly the
/// `acknowledged` ones, or `some` in between), for corpus statistics.
pub fn outcome_label(
    opened: bool,
    step_failed: bool,
    recovered_lsn: u64,
    issued_lsn: u64,
    acknowledged_lsn: u64,
) -> (&'static str, &'static str) {
    let phase = if !opened {
        "open"
    } else if step_failed {
        "step"
    } else {
        "end"
    };
    let kept = if recovered_lsn == issued_lsn {
        "all"
    } else if recovered_lsn == acknowledged_lsn {
        "acknowledged"
    } else {
        "some"
    };
    (phase, kept)
}
