//! Staged firmware rollouts: which mailboxes a stage reaches, how a rollout moves between its
//! states, and when a stage may give way to the next one or must stop.
//!
//! A rollout offers one image in stages (by default 1, 5, 25, 50 and 100 % of the fleet). A
//! mailbox's place in the fleet is a stable bucket, 0..10,000, from a hash of its serial and the
//! rollout's id: a stage of `p` % reaches the buckets below `p * 100`, so a mailbox in the 5 %
//! stage is still in the 25 % one, and another rollout draws a different first 1 %. A stage
//! gives way to the next after its soak (a minimum time and a share of its mailboxes confirmed
//! on the new image) unless a health gate trips, which pauses the rollout for staff. Everything
//! here is pure: the server measures, this decides.

use std::fmt;

use crate::names::named_enum;

/// Buckets a mailbox can fall into; a stage of `p` % reaches `p * 100` of them.
pub const BUCKETS: u32 = 10_000;

/// Most stages a rollout may have.
pub const MAX_STAGES: usize = 10;

named_enum! {
    /// Where a rollout stands.
    pub enum RolloutState as "rollout state" {
        /// Offering its image to the mailboxes of its current stage.
        Active => "active",
        /// Stopped by staff or a tripped gate: nobody is offered the image until it resumes
        /// (a mailbox keeps what it already installed).
        Paused => "paused",
        /// Went through its last stage.
        Completed => "completed",
        /// Stopped for good; nobody is offered its image any more.
        Aborted => "aborted",
    }
}

impl RolloutState {
    /// Whether the rollout still holds its hardware revision (one open rollout per revision).
    pub const fn is_open(self) -> bool {
        matches!(self, RolloutState::Active | RolloutState::Paused)
    }

    /// Whether mailboxes of the current stage are offered the image now.
    pub const fn offers(self) -> bool {
        matches!(self, RolloutState::Active)
    }
}

named_enum! {
    /// How far one mailbox got with a rollout's image.
    pub enum DeviceProgress as "rollout progress" {
        /// The heartbeat's answer offered the image.
        Offered => "offered",
        /// The mailbox fetched part of the image.
        Downloading => "downloading",
        /// The mailbox reported the image downloaded and checked (it restarts into it).
        Downloaded => "downloaded",
        /// The new image reported itself installed.
        Installed => "installed",
        /// The first check-in on the new image was answered: the image confirmed itself.
        Confirmed => "confirmed",
        /// The mailbox refused the image (digest, signature, flash).
        Failed => "failed",
        /// The image did not confirm itself and the bootloader went back to the old one.
        RolledBack => "rolled_back",
    }
}

impl DeviceProgress {
    /// Whether a report or a check-in may move a mailbox from `self` to `next`: forward only,
    /// and an outcome (confirmed, failed, rolled back) is final.
    pub fn may_become(self, next: DeviceProgress) -> bool {
        use DeviceProgress::*;
        match self {
            Confirmed | Failed | RolledBack => false,
            Offered => next != Offered,
            Downloading => !matches!(next, Offered | Downloading),
            Downloaded => !matches!(next, Offered | Downloading | Downloaded),
            Installed => matches!(next, Confirmed | Failed | RolledBack),
        }
    }
}

/// The percentages of a rollout's stages: 1 to 100, rising, the last 100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stages(Vec<u8>);

/// Why a list of stages was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StagesError {
    #[error("give between 1 and 10 stages")]
    Count,
    #[error("stage {0:?} is not a whole percentage from 1 to 100")]
    Percent(String),
    #[error("each stage must reach more mailboxes than the one before it")]
    NotRising,
    #[error("the last stage must be 100 %, so every mailbox gets the image in the end")]
    NotWhole,
    #[error(
        "stage {0:?}: write its percentage, then its own soak time and confirmed share if it \
         has them, e.g. 5, 5:24h or 5:24h:90%"
    )]
    Soak(String),
}

impl Stages {
    /// 1, 5, 25, 50, 100 %.
    pub fn standard() -> Stages {
        Stages(vec![1, 5, 25, 50, 100])
    }

    /// Checks percentages given as numbers.
    pub fn new(percents: Vec<u8>) -> Result<Stages, StagesError> {
        if percents.is_empty() || percents.len() > MAX_STAGES {
            return Err(StagesError::Count);
        }
        if let Some(bad) = percents.iter().find(|p| !(1..=100).contains(*p)) {
            return Err(StagesError::Percent(bad.to_string()));
        }
        if percents.windows(2).any(|w| w[0] >= w[1]) {
            return Err(StagesError::NotRising);
        }
        if percents.last() != Some(&100) {
            return Err(StagesError::NotWhole);
        }
        Ok(Stages(percents))
    }

    pub fn percents(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The percentage of stage `index`, if there is one.
    pub fn percent(&self, index: usize) -> Option<u8> {
        self.0.get(index).copied()
    }
}

impl fmt::Display for Stages {
    /// `1,5,25,50,100`, as [`StagePlan::parse`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u8::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

/// A stage's own soak, where staff gave one; what is missing is the rollout's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageSoak {
    pub min_ms: Option<i64>,
    pub min_confirmed_percent: Option<u8>,
}

/// Stages, each with the soak it was given: `1:2h,5:24h:90%,25,50,100` is five stages, the
/// first soaking 2 hours, the second 24 hours with 90 % of its mailboxes confirmed, the others
/// the rollout's soak (`--soak`, `--confirmed`). A soak per stage lets a rollout wait long on
/// its first mailboxes and briefly once the image has proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagePlan {
    pub stages: Stages,
    /// One per stage.
    pub soaks: Vec<StageSoak>,
}

impl StagePlan {
    /// The standard stages, each with the rollout's soak.
    pub fn standard() -> StagePlan {
        let stages = Stages::standard();
        let soaks = vec![StageSoak::default(); stages.len()];
        StagePlan { stages, soaks }
    }

    /// Reads `PERCENT[:TIME[:CONFIRMED%]]` per stage, separated by commas (spaces and a `%`
    /// after the percentage allowed): `1,5,25,50,100` is the standard stages.
    pub fn parse(text: &str) -> Result<StagePlan, StagesError> {
        let mut percents = Vec::new();
        let mut soaks = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let bad = || StagesError::Soak(part.to_owned());
            let mut fields = part.split(':').map(str::trim);
            let percent = fields.next().unwrap_or_default();
            let number = percent.strip_suffix('%').unwrap_or(percent).trim();
            percents.push(
                number
                    .parse::<u8>()
                    .map_err(|_| StagesError::Percent(part.to_owned()))?,
            );
            let min_ms = match fields.next() {
                None => None,
                Some(time) => Some(parse_duration_ms(time).ok_or_else(bad)?),
            };
            let min_confirmed_percent = match fields.next() {
                None => None,
                Some(share) => Some(
                    share
                        .strip_suffix('%')
                        .unwrap_or(share)
                        .trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|p| *p <= 100)
                        .ok_or_else(bad)?,
                ),
            };
            if fields.next().is_some() {
                return Err(bad());
            }
            soaks.push(StageSoak {
                min_ms,
                min_confirmed_percent,
            });
        }
        Ok(StagePlan {
            stages: Stages::new(percents)?,
            soaks,
        })
    }

    /// Each stage's soak: its own where given, else `default`'s.
    pub fn resolve(&self, default: Soak) -> Vec<Soak> {
        self.soaks
            .iter()
            .map(|own| Soak {
                min_ms: own.min_ms.unwrap_or(default.min_ms),
                min_confirmed_percent: own
                    .min_confirmed_percent
                    .unwrap_or(default.min_confirmed_percent),
            })
            .collect()
    }
}

impl fmt::Display for StagePlan {
    /// As [`StagePlan::parse`] reads it, e.g. `1:2h,5:1d:90%,100`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .stages
            .percents()
            .iter()
            .zip(&self.soaks)
            .map(|(percent, soak)| {
                let mut part = percent.to_string();
                if let Some(ms) = soak.min_ms {
                    part.push(':');
                    part.push_str(&format_duration_ms(ms));
                }
                if let Some(share) = soak.min_confirmed_percent {
                    if soak.min_ms.is_none() {
                        part.push(':');
                        part.push_str(&format_duration_ms(0));
                    }
                    part.push_str(&format!(":{share}%"));
                }
                part
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// A mailbox's stable bucket in a rollout, 0..[`BUCKETS`]: FNV-1a (64 bit) of the serial, a NUL
/// and the rollout id. Fixed here rather than taken from `std`'s hasher, whose output may change
/// between Rust releases and would reshuffle a running rollout.
pub fn bucket(serial: &str, rollout_id: &str) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = serial
        .bytes()
        .chain(std::iter::once(0))
        .chain(rollout_id.bytes());
    let hash = bytes.fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    (hash % u64::from(BUCKETS)) as u32
}

/// Whether the mailbox `serial` is among the `percent` % a stage of rollout `rollout_id` reaches.
pub fn is_member(serial: &str, rollout_id: &str, percent: u8) -> bool {
    bucket(serial, rollout_id) < u32::from(percent.min(100)) * (BUCKETS / 100)
}

/// What staff (or the gate job) ask of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutCommand {
    Pause,
    Resume,
    /// Move to the next stage now, soak or not; past the last stage the rollout completes.
    Advance,
    Abort,
}

impl fmt::Display for RolloutCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RolloutCommand::Pause => "pause",
            RolloutCommand::Resume => "resume",
            RolloutCommand::Advance => "advance",
            RolloutCommand::Abort => "abort",
        })
    }
}

/// A rollout's state and its current stage (an index into its [`Stages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub state: RolloutState,
    pub stage: usize,
}

/// A command that does not apply to the rollout as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a rollout that is {state} cannot {command}")]
pub struct CommandRefused {
    pub state: RolloutState,
    pub command: RolloutCommand,
}

impl Position {
    /// Where `command` takes a rollout of `stage_count` stages. An advance starts the next stage
    /// (as active, also from a pause: staff decided) or completes the rollout after its last.
    pub fn apply(
        self,
        command: RolloutCommand,
        stage_count: usize,
    ) -> Result<Position, CommandRefused> {
        use RolloutState::*;
        let refused = || CommandRefused {
            state: self.state,
            command,
        };
        let to = match (command, self.state) {
            (RolloutCommand::Pause, Active) => Position {
                state: Paused,
                ..self
            },
            (RolloutCommand::Resume, Paused) => Position {
                state: Active,
                ..self
            },
            (RolloutCommand::Advance, Active | Paused) if self.stage + 1 >= stage_count => {
                Position {
                    state: Completed,
                    ..self
                }
            }
            (RolloutCommand::Advance, Active | Paused) => Position {
                state: Active,
                stage: self.stage + 1,
            },
            (RolloutCommand::Abort, Active | Paused) => Position {
                state: Aborted,
                ..self
            },
            _ => return Err(refused()),
        };
        Ok(to)
    }
}

/// What a stage needs before the next one starts: time on the image and mailboxes confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Soak {
    /// Milliseconds since the stage started.
    pub min_ms: i64,
    /// Share of the stage's mailboxes confirmed on the new image, in percent.
    pub min_confirmed_percent: u8,
}

impl Soak {
    /// 24 hours and 80 % confirmed.
    pub const STANDARD: Soak = Soak {
        min_ms: 24 * 3_600_000,
        min_confirmed_percent: 80,
    };
}

/// Reads a soak time such as `24h`, `90m`, `2d` or `3600s` into milliseconds (at most 30 days).
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit_ms = match unit.trim() {
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    let ms = number.checked_mul(unit_ms)?;
    (ms <= 30 * 86_400_000).then_some(ms)
}

/// Writes milliseconds as [`parse_duration_ms`] reads them, in the largest whole unit
/// (`2d`, `36h`, `90m`, `5s`).
pub fn format_duration_ms(ms: i64) -> String {
    for (unit_ms, unit) in [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m")] {
        if ms != 0 && ms % unit_ms == 0 {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{}s", ms / 1_000)
}

/// The health gates (all rates in basis points, 1/10,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Failed and rolled-back mailboxes among those that finished trying the image.
    FailureRate,
    /// Mailboxes offered the image that stopped checking in on schedule, beyond the share of
    /// mailboxes on the old image that did.
    SilentShare,
    /// Battery drain per day on the new image beyond the old image's, in hundredths of a
    /// percentage point per day.
    BatteryDrain,
}

impl Gate {
    pub const ALL: [Gate; 3] = [Gate::FailureRate, Gate::SilentShare, Gate::BatteryDrain];

    /// The gate in plain words, for staff.
    pub const fn label(self) -> &'static str {
        match self {
            Gate::FailureRate => "failed or rolled back",
            Gate::SilentShare => "stopped checking in (beyond the old image)",
            Gate::BatteryDrain => "extra battery drain per day",
        }
    }
}

/// Where each gate trips: above these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failure_rate_bp: i64,
    pub silent_share_bp: i64,
    /// Hundredths of a percentage point of battery per day.
    pub battery_drain_cpct: i64,
}

impl Thresholds {
    /// 5 % failed or rolled back, 10 points more silent mailboxes, 2 points more drain a day.
    pub const STANDARD: Thresholds = Thresholds {
        failure_rate_bp: 500,
        silent_share_bp: 1_000,
        battery_drain_cpct: 200,
    };

    fn of(&self, gate: Gate) -> i64 {
        match gate {
            Gate::FailureRate => self.failure_rate_bp,
            Gate::SilentShare => self.silent_share_bp,
            Gate::BatteryDrain => self.battery_drain_cpct,
        }
    }
}

/// A count of mailboxes out of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    pub part: u64,
    pub of: u64,
}

impl Share {
    /// In basis points; 0 for an empty group.
    pub fn bp(self) -> i64 {
        if self.of == 0 {
            return 0;
        }
        i64::try_from(self.part.min(self.of) * 10_000 / self.of).unwrap_or(10_000)
    }
}

/// How the mailboxes offered a rollout's image fare, beside those still on the old image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    /// Failed or rolled back, of the mailboxes with an outcome (confirmed, failed, rolled back).
    pub failures: Share,
    /// Offered mailboxes overdue for their check-in.
    pub silent: Share,
    /// Mailboxes on the old image overdue for theirs.
    pub baseline_silent: Share,
    /// Mean battery drain per day on the new image, hundredths of a point (None: not enough
    /// readings yet).
    pub drain_cpct: Option<i64>,
    /// The same on the old image.
    pub baseline_drain_cpct: Option<i64>,
}

/// One gate's value beside its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateReading {
    pub gate: Gate,
    /// None when there is nothing to measure yet.
    pub value: Option<i64>,
    pub threshold: i64,
    pub tripped: bool,
}

impl Health {
    /// Every gate's reading.
    pub fn read(&self, thresholds: &Thresholds) -> Vec<GateReading> {
        Gate::ALL
            .iter()
            .map(|&gate| {
                let value = match gate {
                    Gate::FailureRate => (self.failures.of > 0).then(|| self.failures.bp()),
                    Gate::SilentShare => {
                        (self.silent.of > 0).then(|| self.silent.bp() - self.baseline_silent.bp())
                    }
                    Gate::BatteryDrain => self
                        .drain_cpct
                        .map(|drain| drain - self.baseline_drain_cpct.unwrap_or(0)),
                };
                let threshold = thresholds.of(gate);
                GateReading {
                    gate,
                    value,
                    threshold,
                    tripped: value.is_some_and(|v| v > threshold),
                }
            })
            .collect()
    }
}

/// What the gate job does with an active rollout's current stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not soaked yet; look again later.
    Wait,
    /// Soaked and healthy: start the next stage (or complete after the last).
    Advance,
    /// A gate tripped: pause and tell staff.
    Pause(Vec<Gate>),
}

/// The stage of an active rollout as the gate job sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageView {
    /// When the current stage started (ms).
    pub started_at_ms: i64,
    /// Mailboxes the stage reaches.
    pub members: u64,
    /// Of them, confirmed on the new image.
    pub confirmed: u64,
}

/// Judges the current stage at `now_ms`: gates first (a tripped gate pauses even before the soak
/// ends), then the soak.
pub fn judge(
    stage: StageView,
    health: &Health,
    thresholds: &Thresholds,
    soak: Soak,
    now_ms: i64,
) -> Verdict {
    let tripped: Vec<Gate> = health
        .read(thresholds)
        .into_iter()
        .filter(|reading| reading.tripped)
        .map(|reading| reading.gate)
        .collect();
    if !tripped.is_empty() {
        return Verdict::Pause(tripped);
    }
    let soaked = now_ms - stage.started_at_ms >= soak.min_ms;
    let confirmed_enough =
        stage.confirmed * 100 >= stage.members * u64::from(soak.min_confirmed_percent.min(100));
    if soaked && confirmed_enough {
        Verdict::Advance
    } else {
        Verdict::Wait
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn stages_are_rising_percentages_ending_at_100() {
        let parse_stages = |text: &str| StagePlan::parse(text).map(|plan| plan.stages);
        assert_eq!(parse_stages("1,5,25,50,100"), Ok(Stages::standard()));
        assert_eq!(
            parse_stages(" 10%, 100 % ").map(|s| s.to_string()),
            Ok("10,100".to_owned())
        );
        assert_eq!(parse_stages(""), Err(StagesError::Percent(String::new())));
        assert_eq!(parse_stages("5,1,100"), Err(StagesError::NotRising));
        assert_eq!(parse_stages("5,5,100"), Err(StagesError::NotRising));
        assert_eq!(parse_stages("1,50"), Err(StagesError::NotWhole));
        assert_eq!(parse_stages("0,100"), Err(StagesError::Percent("0".into())));
        assert_eq!(
            parse_stages("1,x,100"),
            Err(StagesError::Percent("x".into()))
        );
        assert_eq!(
            parse_stages("1,2,3,4,5,6,7,8,9,10,100"),
            Err(StagesError::Count)
        );
    }

    #[test]
    fn a_plan_gives_each_stage_its_own_soak_or_the_rollouts() {
        let plan = StagePlan::parse("1:2h, 5:24h:90%, 25,50 ,100%").expect("a plan");
        assert_eq!(plan.stages, Stages::standard());
        assert_eq!(plan.to_string(), "1:2h,5:1d:90%,25,50,100");
        let soaks = plan.resolve(Soak {
            min_ms: 1_000,
            min_confirmed_percent: 50,
        });
        assert_eq!(
            soaks[0],
            Soak {
                min_ms: 7_200_000,
                min_confirmed_percent: 50
            }
        );
        assert_eq!(
            soaks[1],
            Soak {
                min_ms: 86_400_000,
                min_confirmed_percent: 90
            }
        );
        assert_eq!(soaks[4].min_ms, 1_000);
        assert_eq!(StagePlan::parse("1,5,25,50,100"), Ok(StagePlan::standard()));
        assert_eq!(
            StagePlan::parse("10:0s:95%,100").map(|p| p.to_string()),
            Ok("10:0s:95%,100".to_owned())
        );
        for bad in [
            "1:2x,100",
            "1:2h:101%,100",
            "1:2h:90%:1,100",
            "1:,100",
            "1:31d,100",
        ] {
            let part = bad.split(',').next().unwrap_or_default().to_owned();
            assert_eq!(StagePlan::parse(bad), Err(StagesError::Soak(part)), "{bad}");
        }
        assert_eq!(
            StagePlan::parse("x:2h,100"),
            Err(StagesError::Percent("x:2h".into()))
        );
        assert_eq!(StagePlan::parse("5:2h,1,100"), Err(StagesError::NotRising));
        assert_eq!(format_duration_ms(5_400_000), "90m");
        assert_eq!(format_duration_ms(129_600_000), "36h");
    }

    #[test]
    fn soak_times_read_with_a_unit() {
        assert_eq!(parse_duration_ms("24h"), Some(86_400_000));
        assert_eq!(parse_duration_ms("90m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("2d"), Some(172_800_000));
        assert_eq!(parse_duration_ms("0s"), Some(0));
        assert_eq!(parse_duration_ms("24"), None);
        assert_eq!(parse_duration_ms("h"), None);
        assert_eq!(parse_duration_ms("31d"), None);
        assert_eq!(parse_duration_ms("-1h"), None);
    }

    #[test]
    fn buckets_are_fixed_for_a_serial_and_rollout() {
        // Pinned: a change of the hash would reshuffle running rollouts.
        assert_eq!(bucket("SB-0001", "r1"), bucket("SB-0001", "r1"));
        assert_ne!(bucket("SB-0001", "r1"), bucket("SB-0001", "r2"));
        assert_eq!(bucket("", ""), (0xaf63_bd4c_8601_b7dfu64 % 10_000) as u32);
    }

    #[test]
    fn about_the_stage_share_of_a_fleet_is_reached() {
        let serials: Vec<String> = (0..10_000).map(|i| format!("SB-{i:06}")).collect();
        for percent in [1u8, 5, 25, 50] {
            let members = serials
                .iter()
                .filter(|s| is_member(s, "rollout-a", percent))
                .count();
            let expected = usize::from(percent) * 100;
            assert!(
                members.abs_diff(expected) <= expected / 4 + 20,
                "{percent} %: {members} of 10,000"
            );
        }
        assert!(serials.iter().all(|s| is_member(s, "rollout-a", 100)));
    }

    #[test]
    fn commands_move_a_rollout_and_refuse_what_does_not_apply() {
        use RolloutState::*;
        let at = |state, stage| Position { state, stage };
        let apply = |p: Position, c| p.apply(c, 3);
        assert_eq!(
            apply(at(Active, 0), RolloutCommand::Pause),
            Ok(at(Paused, 0))
        );
        assert_eq!(
            apply(at(Paused, 0), RolloutCommand::Resume),
            Ok(at(Active, 0))
        );
        assert_eq!(
            apply(at(Paused, 1), RolloutCommand::Advance),
            Ok(at(Active, 2))
        );
        assert_eq!(
            apply(at(Active, 2), RolloutCommand::Advance),
            Ok(at(Completed, 2))
        );
        assert_eq!(
            apply(at(Paused, 1), RolloutCommand::Abort),
            Ok(at(Aborted, 1))
        );
        for (state, command) in [
            (Active, RolloutCommand::Resume),
            (Paused, RolloutCommand::Pause),
            (Completed, RolloutCommand::Advance),
            (Aborted, RolloutCommand::Resume),
            (Completed, RolloutCommand::Abort),
        ] {
            assert_eq!(
                apply(at(state, 0), command),
                Err(CommandRefused { state, command })
            );
        }
        assert!(Paused.is_open() && !Paused.offers() && !Completed.is_open());
    }

    #[test]
    fn progress_moves_forward_and_outcomes_are_final() {
        use DeviceProgress::*;
        assert!(Offered.may_become(Downloaded));
        assert!(Offered.may_become(Confirmed), "a report may be lost");
        assert!(Installed.may_become(Confirmed));
        assert!(!Installed.may_become(Downloaded));
        assert!(!Confirmed.may_become(RolledBack));
        assert!(!RolledBack.may_become(Confirmed));
        assert!(!Offered.may_become(Offered));
    }

    fn stage(members: u64, confirmed: u64) -> StageView {
        StageView {
            started_at_ms: 0,
            members,
            confirmed,
        }
    }

    #[test]
    fn a_stage_advances_after_its_soak_time_with_enough_mailboxes_confirmed() {
        let soak = Soak {
            min_ms: 1_000,
            min_confirmed_percent: 80,
        };
        let healthy = Health {
            failures: Share { part: 0, of: 10 },
            ..Health::default()
        };
        let t = Thresholds::STANDARD;
        assert_eq!(judge(stage(10, 10), &healthy, &t, soak, 999), Verdict::Wait);
        assert_eq!(
            judge(stage(10, 7), &healthy, &t, soak, 5_000),
            Verdict::Wait
        );
        assert_eq!(
            judge(stage(10, 8), &healthy, &t, soak, 1_000),
            Verdict::Advance
        );
        assert_eq!(
            judge(stage(0, 0), &Health::default(), &t, soak, 1_000),
            Verdict::Advance,
            "a stage that reaches nobody has nothing to wait for"
        );
    }

    #[test]
    fn a_tripped_gate_pauses_before_the_soak_ends() {
        let soak = Soak::STANDARD;
        let t = Thresholds::STANDARD;
        let rolled_back = Health {
            failures: Share { part: 1, of: 2 },
            ..Health::default()
        };
        assert_eq!(
            judge(stage(2, 1), &rolled_back, &t, soak, 0),
            Verdict::Pause(vec![Gate::FailureRate])
        );
        let silent = Health {
            silent: Share { part: 3, of: 10 },
            baseline_silent: Share { part: 10, of: 100 },
            ..Health::default()
        };
        let readings = silent.read(&t);
        assert_eq!(readings[1].value, Some(2_000));
        assert!(readings[1].tripped);
        let draining = Health {
            drain_cpct: Some(350),
            baseline_drain_cpct: Some(100),
            ..Health::default()
        };
        assert_eq!(
            judge(stage(2, 2), &draining, &t, soak, i64::MAX),
            Verdict::Pause(vec![Gate::BatteryDrain])
        );
        let unmeasured = Health::default().read(&t);
        assert!(unmeasured.iter().all(|r| r.value.is_none() && !r.tripped));
    }

    proptest! {
        #[test]
        fn a_member_of_a_stage_is_a_member_of_every_later_stage(
            serial in "[A-Z0-9-]{4,32}",
            rollout in "[a-f0-9-]{36}",
            smaller in 1u8..=100,
            larger in 1u8..=100,
        ) {
            let (smaller, larger) = (smaller.min(larger), smaller.max(larger));
            prop_assert!(bucket(&serial, &rollout) < BUCKETS);
            if is_member(&serial, &rollout, smaller) {
                prop_assert!(is_member(&serial, &rollout, larger));
            }
        }

        #[test]
        fn commands_never_leave_a_finished_rollout_or_skip_a_stage(
            commands in proptest::collection::vec(0u8..4, 0..30),
            stage_count in 1usize..=MAX_STAGES,
        ) {
            let mut position = Position { state: RolloutState::Active, stage: 0 };
            for c in commands {
                let command = [RolloutCommand::Pause, RolloutCommand::Resume,
                    RolloutCommand::Advance, RolloutCommand::Abort][usize::from(c)];
                if let Ok(next) = position.apply(command, stage_count) {
                    prop_assert!(position.state.is_open());
                    prop_assert!(next.stage == position.stage || next.stage == position.stage + 1);
                    prop_assert!(next.stage < stage_count);
                    position = next;
                }
            }
        }
    }
}
